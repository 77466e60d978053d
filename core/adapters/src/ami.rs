//! The Asterisk Manager Interface (AMI), as far as the bridge speaks it: a plain TCP
//! connection, Asterisk's banner line, `Login`, then actions and their responses.
//!
//! This module owns AMI's line protocol (as Asterisk documents it): a message is lines
//! `Key: Value` ending in CR LF, closed by an empty line; an action names itself with
//! `Action:` and carries an `ActionID` its response repeats; a response says
//! `Response: Success` or `Response: Error` with a `Message:`. Events the manager sends in
//! between are skipped (the login asks for none). It knows nothing of Leitstand's
//! commands; [`crate::route`] makes actions of them.
//!
//! The secret is never logged nor put in an error.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The longest line read from the manager.
const MAX_LINE_BYTES: u64 = 16 * 1024;
/// The most lines of one message read from the manager.
const MAX_MESSAGE_LINES: usize = 512;

/// Why talking to the manager failed.
#[derive(Debug, thiserror::Error)]
pub enum AmiError {
    /// The connection could not be made.
    #[error("cannot connect to the Asterisk manager at {addr}: {source}")]
    Connect {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// Reading or writing failed.
    #[error("the connection to the Asterisk manager failed: {0}")]
    Io(#[from] std::io::Error),
    /// The manager did not answer in time.
    #[error("the Asterisk manager did not answer {0} in time")]
    Timeout(String),
    /// The manager closed the connection.
    #[error("the Asterisk manager closed the connection")]
    Closed,
    /// The manager spoke something that is not AMI.
    #[error("the Asterisk manager's answer is not AMI: {0}")]
    Protocol(String),
    /// The manager refused the login.
    #[error("the Asterisk manager refused the login of user {user:?}: {message}")]
    LoginRefused {
        /// The user.
        user: String,
        /// The manager's message.
        message: String,
    },
    /// A value cannot be sent: it would break the line protocol.
    #[error("{key}: {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// An action to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    name: String,
    id: String,
    fields: Vec<(String, String)>,
}

/// A key or value that can travel on one AMI line.
fn checked(key: &str, value: &str) -> Result<(), AmiError> {
    let invalid = |reason: &str| AmiError::InvalidValue {
        key: key.to_owned(),
        reason: reason.to_owned(),
    };
    if key.is_empty() || key.contains(':') || key.chars().any(char::is_whitespace) {
        return Err(invalid("not a key AMI can carry"));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(
            "holds a control character (a line break would end the field)",
        ));
    }
    Ok(())
}

impl Action {
    /// The action `name` with `ActionID` `id`.
    pub fn new(name: &str, id: &str) -> Result<Self, AmiError> {
        checked("Action", name)?;
        checked("ActionID", id)?;
        Ok(Self {
            name: name.to_owned(),
            id: id.to_owned(),
            fields: Vec::new(),
        })
    }

    /// The action with `key: value` added.
    pub fn with(mut self, key: &str, value: &str) -> Result<Self, AmiError> {
        checked(key, value)?;
        self.fields.push((key.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// The action's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its `ActionID`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The value of `key`, when set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The action as it goes on the wire.
    pub fn to_wire(&self) -> String {
        let mut out = format!("Action: {}\r\nActionID: {}\r\n", self.name, self.id);
        for (k, v) in &self.fields {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out
    }
}

/// A message from the manager: a response or an event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    fields: Vec<(String, String)>,
}

impl Message {
    /// The value of `key` (keys compare without regard to case, as Asterisk's do).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is a response saying `Success`.
    pub fn is_success(&self) -> bool {
        self.get("Response")
            .is_some_and(|r| r.eq_ignore_ascii_case("Success"))
    }

    /// The manager's `Message`, or a word saying there was none.
    pub fn message(&self) -> &str {
        self.get("Message").unwrap_or("(no message)")
    }

    /// Reads a message from its lines (without line ends).
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<Self, AmiError> {
        let mut fields = Vec::new();
        for line in lines {
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| AmiError::Protocol("a line without \"Key: Value\"".into()))?;
            fields.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        Ok(Self { fields })
    }
}

/// A logged-in connection to the Asterisk manager.
#[derive(Debug)]
pub struct Manager {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    banner: String,
    timeout: Duration,
}

impl Manager {
    /// Connects to the manager at `addr` (`host:port`), checks its banner and logs in as
    /// `user` without events; every step waits at most `timeout`.
    pub async fn connect(
        addr: &str,
        user: &str,
        secret: &str,
        timeout: Duration,
    ) -> Result<Self, AmiError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| AmiError::Timeout("the connection".into()))?
            .map_err(|source| AmiError::Connect {
                addr: addr.to_owned(),
                source,
            })?;
        stream.set_nodelay(true)?;
        let (read, writer) = stream.into_split();
        let mut manager = Self {
            reader: BufReader::new(read),
            writer,
            banner: String::new(),
            timeout,
        };
        let banner = tokio::time::timeout(timeout, manager.read_line())
            .await
            .map_err(|_| AmiError::Timeout("with its banner".into()))??;
        if !banner.starts_with("Asterisk Call Manager/") {
            return Err(AmiError::Protocol(format!(
                "the banner is {banner:?}, not \"Asterisk Call Manager/…\""
            )));
        }
        manager.banner = banner;
        let login = Action::new("Login", "leitstand-login")?
            .with("Username", user)?
            .with("Secret", secret)?
            .with("Events", "off")?;
        let answer = manager.send(&login).await?;
        if !answer.is_success() {
            return Err(AmiError::LoginRefused {
                user: user.to_owned(),
                message: answer.message().to_owned(),
            });
        }
        Ok(manager)
    }

    /// The manager's banner (`Asterisk Call Manager/<version>`).
    pub fn banner(&self) -> &str {
        &self.banner
    }

    /// Sends `action` and waits for its response (the message with its `ActionID` and a
    /// `Response`), skipping events.
    pub async fn send(&mut self, action: &Action) -> Result<Message, AmiError> {
        let what = format!("{} (ActionID {})", action.name(), action.id());
        tokio::time::timeout(self.timeout, async {
            self.writer.write_all(action.to_wire().as_bytes()).await?;
            self.writer.flush().await?;
            loop {
                let message = self.read_message().await?;
                if message.get("Response").is_some() && message.get("ActionID") == Some(action.id())
                {
                    return Ok(message);
                }
                if message
                    .get("Response")
                    .is_some_and(|r| r.eq_ignore_ascii_case("Goodbye"))
                {
                    return Err(AmiError::Closed);
                }
            }
        })
        .await
        .map_err(|_| AmiError::Timeout(what))?
    }

    /// Closes the session politely (`Logoff`), ignoring what the manager says.
    pub async fn logoff(mut self) {
        if let Ok(action) = Action::new("Logoff", "leitstand-logoff") {
            let _ = self.writer.write_all(action.to_wire().as_bytes()).await;
        }
        let _ = self.writer.shutdown().await;
    }

    async fn read_line(&mut self) -> Result<String, AmiError> {
        let mut buf = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_LINE_BYTES)
            .read_until(b'\n', &mut buf)
            .await?;
        if n == 0 {
            return Err(AmiError::Closed);
        }
        if buf.last() != Some(&b'\n') {
            return Err(AmiError::Protocol(format!(
                "a line longer than {MAX_LINE_BYTES} bytes"
            )));
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        String::from_utf8(buf).map_err(|_| AmiError::Protocol("a line that is not UTF-8".into()))
    }

    async fn read_message(&mut self) -> Result<Message, AmiError> {
        let mut lines = Vec::new();
        loop {
            let line = self.read_line().await?;
            if line.is_empty() {
                if lines.is_empty() {
                    continue;
                }
                return Message::from_lines(lines.iter().map(String::as_str));
            }
            if lines.len() >= MAX_MESSAGE_LINES {
                return Err(AmiError::Protocol(format!(
                    "a message of more than {MAX_MESSAGE_LINES} lines"
                )));
            }
            lines.push(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn actions_are_lines_and_refuse_what_would_break_them() {
        let action = Action::new("Redirect", "c-1")
            .and_then(|a| a.with("Channel", "1795503626.13"))
            .and_then(|a| a.with("Exten", "kaiserslautern"))
            .expect("valid");
        assert_eq!(
            action.to_wire(),
            "Action: Redirect\r\nActionID: c-1\r\nChannel: 1795503626.13\r\nExten: kaiserslautern\r\n\r\n"
        );
        let e = Action::new("Redirect", "c-1")
            .and_then(|a| a.with("Exten", "x\r\nAction: Originate"))
            .expect_err("a line break");
        assert!(e.to_string().starts_with("Exten: "), "{e}");
        assert!(
            Action::new("Redirect", "c-1")
                .and_then(|a| a.with("Bad Key", "v"))
                .is_err()
        );
    }

    /// A manager that greets, accepts one login and answers one action after an event.
    async fn manager(answer: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let (read, mut write) = stream.into_split();
            let mut read = BufReader::new(read);
            write
                .write_all(b"Asterisk Call Manager/7.0.3\r\n")
                .await
                .expect("banner");
            let mut line = String::new();
            for reply in [
                "Response: Success\r\nActionID: leitstand-login\r\nMessage: Authentication accepted\r\n\r\n",
                answer,
            ] {
                loop {
                    line.clear();
                    read.read_line(&mut line).await.expect("read");
                    if line == "\r\n" {
                        break;
                    }
                }
                write
                    .write_all(b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n")
                    .await
                    .expect("event");
                write.write_all(reply.as_bytes()).await.expect("reply");
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_response_is_found_by_its_action_id_past_events() {
        let addr =
            manager("Response: Error\r\nActionID: r-1\r\nMessage: No such channel\r\n\r\n").await;
        let mut m = Manager::connect(&addr, "leitstand", "s3cret", Duration::from_secs(5))
            .await
            .expect("logged in");
        assert_eq!(m.banner(), "Asterisk Call Manager/7.0.3");
        let answer = m
            .send(&Action::new("Redirect", "r-1").expect("valid"))
            .await
            .expect("answered");
        assert!(!answer.is_success());
        assert_eq!(answer.message(), "No such channel");
    }

    #[tokio::test]
    async fn a_refused_login_names_the_user_and_never_the_secret() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            stream
                .write_all(b"Asterisk Call Manager/7.0.3\r\nResponse: Error\r\nActionID: leitstand-login\r\nMessage: Authentication failed\r\n\r\n")
                .await
                .expect("write");
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink).await;
        });
        let e = Manager::connect(&addr, "leitstand", "s3cret", Duration::from_secs(5))
            .await
            .expect_err("refused");
        let text = e.to_string();
        assert!(
            text.contains("\"leitstand\"") && text.contains("Authentication failed"),
            "{text}"
        );
        assert!(!text.contains("s3cret"));
    }
}
