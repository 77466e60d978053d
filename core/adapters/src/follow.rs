//! Following a log file as its writer appends to it, across rotation, with a position that
//! can be saved and resumed: how the live bridge reads Asterisk's `queue_log`.
//!
//! This module owns files and positions and nothing of their lines' meaning. A
//! [`Follower`] hands out complete lines (a line is complete at its newline; a partial
//! line waits for the rest) with their numbers, and its [`Position`] — the file (device
//! and inode), the bytes and lines consumed, and a fingerprint of the file's first line —
//! says where to go on. Saved with the reader's state in a [`Checkpoint`] once the lines'
//! events are with the broker, it lets a restart neither lose nor repeat a line.
//!
//! # Rotation
//!
//! - **Renamed** (logrotate's default, Asterisk's `logger rotate`): the log is renamed
//!   (`queue_log.1`, `queue_log.0`, `queue_log.<time>` — any name that starts with the
//!   log's) and a new file takes its place. The writer goes on writing to the old file
//!   until it reopens the log, so the follower stays on the old file until the new one has
//!   content, reads the old one to its end, then the new one from its start. Stopped in
//!   between, it finds the old file again by its inode among the log's siblings.
//! - **copytruncate**: the log is copied and then cut to nothing, keeping its inode. The
//!   follower sees the file shrink, or its first line change, reads the rest of what it had
//!   not read from the copy (the sibling with the same first line and at least as many
//!   bytes), then the log from its start. Lines written between the copy and the cut are
//!   in neither file: copytruncate loses them for every reader (logrotate says so), so
//!   prefer renaming.
//! - Where the file it was in cannot be found again (deleted, compressed at once), the
//!   follower says so ([`Notice::Lost`]) and starts the log from its beginning.
//! - Rotated twice before the follower has reached the file between (stopped, or far
//!   behind, over two rotations): it goes from the file it stood in to the log, and what
//!   only the file between held is not read — except a log cut by copytruncate and then
//!   renamed, which it finds again by its inode. Rotation once a day leaves the bridge a
//!   day to catch up.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read as _, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ReaderState;

/// The longest line handed out whole; a longer run of bytes without a newline is handed
/// out in pieces of this size (and will be refused as no line of a `queue_log`).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// How many bytes of a file's first line its fingerprint covers.
const HEAD_BYTES: usize = 4096;

/// Where a follower stands: the file, how far it has read, and how to recognise the file
/// again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The file's device.
    pub device: u64,
    /// The file's inode.
    pub inode: u64,
    /// Bytes of complete lines consumed.
    pub offset: u64,
    /// Lines consumed (the number of the last line handed out).
    pub line: u64,
    /// The sha256 of the file's first line (of its first 4 KiB at most), hex; `None` while
    /// the file has no complete first line. It tells a copy of the file (copytruncate) and
    /// a file cut and written anew.
    pub head: Option<String>,
}

/// A complete line of the followed log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowedLine {
    /// The file it was read from (the log, or the rotated file whose rest was read).
    pub file: Arc<Path>,
    /// Its number in that file, from 1.
    pub number: u64,
    /// Its bytes, with the newline.
    pub bytes: Vec<u8>,
}

/// Something a follower did that its operator should hear of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Went on in `file` at byte `offset` (line `line`), where it stood before.
    Resumed {
        /// The file.
        file: PathBuf,
        /// Bytes already read.
        offset: u64,
        /// Lines already read.
        line: u64,
    },
    /// The log was rotated by renaming; the old file was read to its end, now the new one.
    Rotated {
        /// The log.
        log: PathBuf,
    },
    /// The log was cut (copytruncate); the rest of what had not been read was read from
    /// `copy`, now the log from its start.
    Truncated {
        /// The copy the rest was read from.
        copy: PathBuf,
    },
    /// The file the follower stood in cannot be found again: what was written to it after
    /// byte `offset` and before the rotation is not read. The log is read from its start.
    Lost {
        /// Bytes read of the lost file.
        offset: u64,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Resumed { file, offset, line } => write!(
                f,
                "going on in {} after line {line} (byte {offset})",
                file.display()
            ),
            Self::Rotated { log } => write!(
                f,
                "{} was rotated: the old file was read to its end, now the new one",
                log.display()
            ),
            Self::Truncated { copy } => write!(
                f,
                "the log was cut (copytruncate): the rest was read from its copy {}, now the log from its start",
                copy.display()
            ),
            Self::Lost { offset, reason } => write!(
                f,
                "lines written after byte {offset} of the file last read may be lost: {reason}"
            ),
        }
    }
}

/// What the file being read is to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The log itself.
    Live,
    /// The log renamed away: read on until the writer has moved to the new log.
    Renamed,
    /// The copy copytruncate left: read to its end, then the log.
    Copy,
}

/// The file being read.
#[derive(Debug)]
struct Open {
    path: Arc<Path>,
    file: File,
    device: u64,
    inode: u64,
    offset: u64,
    line: u64,
    head: Option<String>,
    /// Bytes read beyond `offset`: the start of a line not yet complete.
    pending: Vec<u8>,
    role: Role,
}

impl Open {
    /// Opens `path` at byte `offset` (line `line`).
    fn at(path: &Path, offset: u64, line: u64, role: Role) -> io::Result<Self> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        file.seek(SeekFrom::Start(offset))?;
        let head = if offset > 0 { head_of(&file)? } else { None };
        Ok(Self {
            path: Arc::from(path),
            file,
            device: meta.dev(),
            inode: meta.ino(),
            offset,
            line,
            head,
            pending: Vec::new(),
            role,
        })
    }

    fn position(&self) -> Position {
        Position {
            device: self.device,
            inode: self.inode,
            offset: self.offset,
            line: self.line,
            head: self.head.clone(),
        }
    }

    /// Reads what is there, handing out complete lines until `max` are in `out`. Stops at
    /// the end of the file, or when the log turns out to have been cut (its first line is
    /// another): what was read then is dropped, to be read from the copy.
    fn read_lines(&mut self, out: &mut Vec<FollowedLine>, max: usize) -> io::Result<Stop> {
        let mut buf = [0u8; 64 * 1024];
        loop {
            self.take_lines(out, max);
            if out.len() >= max {
                return Ok(Stop::Full);
            }
            let n = match self.file.read(&mut buf) {
                Ok(0) => return Ok(Stop::End),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            // Checked after the read: bytes read before a cut are the old file's, bytes
            // read after it would be the new content at the old offset.
            if self.role == Role::Live && self.head.is_some() && head_of(&self.file)? != self.head {
                self.pending.clear();
                return Ok(Stop::Cut);
            }
            self.pending.extend_from_slice(&buf[..n]);
        }
    }

    /// Moves the complete lines of `pending` to `out`, up to `max` in all.
    fn take_lines(&mut self, out: &mut Vec<FollowedLine>, max: usize) {
        while out.len() < max {
            let end = match self.pending.iter().position(|b| *b == b'\n') {
                Some(i) => i + 1,
                None if self.pending.len() >= MAX_LINE_BYTES => MAX_LINE_BYTES,
                None => return,
            };
            let bytes: Vec<u8> = self.pending.drain(..end).collect();
            self.hand_out(out, bytes);
        }
    }

    fn hand_out(&mut self, out: &mut Vec<FollowedLine>, bytes: Vec<u8>) {
        if self.offset == 0 {
            self.head = Some(fingerprint(&bytes));
        }
        self.offset += bytes.len() as u64;
        self.line += 1;
        out.push(FollowedLine {
            file: self.path.clone(),
            number: self.line,
            bytes,
        });
    }

    /// Hands out a last line without its newline, when the file is left for good.
    fn flush(&mut self, out: &mut Vec<FollowedLine>) {
        if !self.pending.is_empty() {
            let bytes = std::mem::take(&mut self.pending);
            self.hand_out(out, bytes);
        }
    }
}

/// Why reading a file stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// As many lines as asked for.
    Full,
    /// The end of the file.
    End,
    /// The log was cut (copytruncate).
    Cut,
}

/// The fingerprint of a first line.
fn fingerprint(first_line: &[u8]) -> String {
    let digest = Sha256::digest(&first_line[..first_line.len().min(HEAD_BYTES)]);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The fingerprint of `file`'s first line, `None` while it has no complete one.
fn head_of(file: &File) -> io::Result<Option<String>> {
    let mut buf = vec![0u8; HEAD_BYTES];
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read_at(&mut buf[filled..], filled as u64)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    let bytes = &buf[..filled];
    Ok(match bytes.iter().position(|b| *b == b'\n') {
        Some(i) => Some(fingerprint(&bytes[..=i])),
        None if filled == HEAD_BYTES => Some(fingerprint(bytes)),
        None => None,
    })
}

/// Follows one log file.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    current: Open,
    /// While reading a copy: the device and inode of the log that was cut, read next.
    cut_log: Option<(u64, u64)>,
    notices: Vec<Notice>,
}

impl Follower {
    /// Follows `path` from its start.
    pub fn start(path: &Path) -> io::Result<Self> {
        Ok(Self {
            path: path.to_path_buf(),
            current: Open::at(path, 0, 0, Role::Live)?,
            cut_log: None,
            notices: Vec::new(),
        })
    }

    /// Follows `path` from `saved`: in the log itself, in the file it was renamed to, or
    /// in the copy copytruncate left, whichever holds the saved file (see the module
    /// documentation); from the log's start, with a [`Notice::Lost`], when none does.
    pub fn resume(path: &Path, saved: &Position) -> io::Result<Self> {
        let resumed = |file: &Path| Notice::Resumed {
            file: file.to_path_buf(),
            offset: saved.offset,
            line: saved.line,
        };
        let mut same_file = false;
        match File::open(path) {
            Ok(file) => {
                let meta = file.metadata()?;
                same_file = (meta.dev(), meta.ino()) == (saved.device, saved.inode);
                let intact = same_file
                    && meta.len() >= saved.offset
                    && (saved.head.is_none() || head_of(&file)? == saved.head);
                if intact {
                    return Ok(Self {
                        path: path.to_path_buf(),
                        current: Open::at(path, saved.offset, saved.line, Role::Live)?,
                        cut_log: None,
                        notices: vec![resumed(path)],
                    });
                }
            }
            // Renamed away and not there again yet: the old file may still be found.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let renamed = if same_file {
            None
        } else {
            sibling(path, |_, meta| {
                (meta.dev(), meta.ino()) == (saved.device, saved.inode)
            })?
        };
        let found = match renamed {
            Some(old) => Some((old, Role::Renamed)),
            None => copy_of(path, saved)?.map(|copy| (copy, Role::Copy)),
        };
        Ok(match found {
            Some((file, role)) => {
                let mut current = Open::at(&file, saved.offset, saved.line, role)?;
                current.head.clone_from(&saved.head);
                Self {
                    path: path.to_path_buf(),
                    current,
                    // A copy is of the saved file, which kept its inode when it was cut.
                    cut_log: (role == Role::Copy).then_some((saved.device, saved.inode)),
                    notices: vec![resumed(&file)],
                }
            }
            None => Self {
                path: path.to_path_buf(),
                current: Open::at(path, 0, 0, Role::Live)?,
                cut_log: None,
                notices: vec![Notice::Lost {
                    offset: saved.offset,
                    reason: format!(
                        "neither {} nor a file beside it is the file read before (rotated and removed, or compressed?)",
                        path.display()
                    ),
                }],
            },
        })
    }

    /// The log followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the follower stands: after the last line handed out.
    pub fn position(&self) -> Position {
        self.current.position()
    }

    /// What happened since the last call, for the operator.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// The complete lines written since the last call, at most `max` (a few more when a
    /// rotation ends a file), following rotation; none when nothing new is there.
    pub fn poll(&mut self, max: usize) -> io::Result<Vec<FollowedLine>> {
        let mut out = Vec::new();
        loop {
            match self.current.read_lines(&mut out, max)? {
                Stop::Full => return Ok(out),
                Stop::Cut => self.cut()?,
                Stop::End => {
                    if !self.advance(&mut out)? {
                        return Ok(out);
                    }
                }
            }
        }
    }

    /// At the end of the file being read: moves on to the next file when rotation says
    /// so. `true` when it moved.
    fn advance(&mut self, out: &mut Vec<FollowedLine>) -> io::Result<bool> {
        if self.current.role == Role::Copy {
            // Nobody writes to the copy: it is done. Back to the file that was cut, even
            // when it has been renamed away since.
            self.current.flush(out);
            if let Some(identity) = self.cut_log.take() {
                let same = |meta: &fs::Metadata| (meta.dev(), meta.ino()) == identity;
                let moved = match fs::metadata(&self.path) {
                    Ok(meta) if same(&meta) => None,
                    _ => sibling(&self.path, |_, meta| same(meta))?,
                };
                if let Some(moved) = moved {
                    self.current = Open::at(&moved, 0, 0, Role::Renamed)?;
                    return Ok(true);
                }
            }
            return self.switch_to_log(None);
        }
        // Cut (copytruncate), wherever the file is now: shorter than what was read of it,
        // or another first line.
        let read_to = self.current.offset + self.current.pending.len() as u64;
        if self.current.file.metadata()?.len() < read_to
            || (self.current.head.is_some() && head_of(&self.current.file)? != self.current.head)
        {
            self.cut()?;
            return Ok(true);
        }
        let meta = match fs::metadata(&self.path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Renamed away, the new log not there yet: the writer is still on the old.
                self.renamed()?;
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        if (meta.dev(), meta.ino()) == (self.current.device, self.current.inode) {
            self.current.role = Role::Live;
            return Ok(false);
        }
        self.renamed()?;
        if meta.len() == 0 {
            return Ok(false);
        }
        // The writer has moved on: the old file's last lines, then the new log.
        if self.current.read_lines(out, usize::MAX)? == Stop::Cut {
            self.cut()?;
            return Ok(true);
        }
        self.current.flush(out);
        self.switch_to_log(Some(Notice::Rotated {
            log: self.path.clone(),
        }))
    }

    /// The log being read was renamed away: its lines are named by its new name, when it
    /// can be found.
    fn renamed(&mut self) -> io::Result<()> {
        if self.current.role == Role::Renamed {
            return Ok(());
        }
        self.current.role = Role::Renamed;
        let identity = (self.current.device, self.current.inode);
        if let Some(name) = sibling(&self.path, |_, meta| (meta.dev(), meta.ino()) == identity)? {
            self.current.path = Arc::from(name.as_path());
        }
        Ok(())
    }

    /// The log was cut (copytruncate): the rest of what was not read is in the copy.
    fn cut(&mut self) -> io::Result<()> {
        let saved = self.current.position();
        match copy_of(&self.path, &saved)? {
            Some(copy) => {
                self.cut_log = Some((saved.device, saved.inode));
                self.current = Open::at(&copy, saved.offset, saved.line, Role::Copy)?;
                self.current.head = saved.head;
                self.notices.push(Notice::Truncated { copy });
            }
            None => {
                self.notices.push(Notice::Lost {
                    offset: saved.offset,
                    reason: "the log was cut and no copy of it lies beside it".into(),
                });
                self.current = Open::at(&self.path, 0, 0, Role::Live)?;
            }
        }
        Ok(())
    }

    fn switch_to_log(&mut self, notice: Option<Notice>) -> io::Result<bool> {
        match Open::at(&self.path, 0, 0, Role::Live) {
            Ok(open) => {
                self.current = open;
                self.notices.extend(notice);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The copy of the file `saved` was in: a file beside `log` with the same first line and
/// at least `saved.offset` bytes.
fn copy_of(log: &Path, saved: &Position) -> io::Result<Option<PathBuf>> {
    let Some(head) = &saved.head else {
        return Ok(None);
    };
    sibling(log, |path, meta| {
        meta.len() >= saved.offset
            && File::open(path)
                .and_then(|f| head_of(&f))
                .is_ok_and(|h| h.as_ref() == Some(head))
    })
}

/// The first file beside `log` (its name starting with the log's, in name order) that
/// `matches`; never the log itself.
fn sibling(
    log: &Path,
    matches: impl Fn(&Path, &fs::Metadata) -> bool,
) -> io::Result<Option<PathBuf>> {
    let Some(name) = log.file_name().and_then(|n| n.to_str()) else {
        return Ok(None);
    };
    let dir = match log.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut candidates: Vec<PathBuf> = fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n != name && n.starts_with(name))
        })
        .map(|e| e.path())
        .collect();
    candidates.sort();
    Ok(candidates
        .into_iter()
        .find(|p| fs::metadata(p).is_ok_and(|meta| meta.is_file() && matches(p, &meta))))
}

/// What a bridge saves after the broker has confirmed a batch: where it stands in the log,
/// and what its reader remembers of the calls in the queues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The format's version.
    pub version: u32,
    /// Where the follower stands.
    pub position: Position,
    /// What the reader remembers.
    pub reader: ReaderState,
}

impl Checkpoint {
    /// The version this build writes and reads.
    pub const VERSION: u32 = 1;

    /// A checkpoint of this version.
    pub fn new(position: Position, reader: ReaderState) -> Self {
        Self {
            version: Self::VERSION,
            position,
            reader,
        }
    }

    /// Reads the checkpoint at `path`; `None` when there is none yet.
    pub fn load(path: &Path) -> Result<Option<Self>, CheckpointError> {
        let text = match fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CheckpointError::io(path, e)),
        };
        let checkpoint: Self =
            serde_json::from_slice(&text).map_err(|e| CheckpointError::Unreadable {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        if checkpoint.version != Self::VERSION {
            return Err(CheckpointError::Unreadable {
                path: path.to_path_buf(),
                reason: format!(
                    "version {} (this build reads {})",
                    checkpoint.version,
                    Self::VERSION
                ),
            });
        }
        Ok(Some(checkpoint))
    }

    /// Writes the checkpoint to `path` so that a crash leaves the old one or the new one,
    /// never a mix: into a file beside it, synced, renamed over it, the directory synced.
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let write = || -> io::Result<()> {
            let mut file = File::create(&tmp)?;
            // Serialising plain numbers and strings cannot fail.
            let bytes = serde_json::to_vec(self).map_err(io::Error::other)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, path)?;
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            File::open(dir)?.sync_all()
        };
        write().map_err(|e| CheckpointError::io(path, e))
    }
}

/// Why a checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file could not be read or written.
    #[error("state file {}: {source}", path.display())]
    Io {
        /// The state file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// The file is not a checkpoint this build reads.
    #[error("state file {} is not a checkpoint this build reads: {reason}", path.display())]
    Unreadable {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl CheckpointError {
    fn io(path: &Path, source: io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    fn append(path: &Path, text: &str) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open");
        f.write_all(text.as_bytes()).expect("append");
    }

    fn texts(lines: &[FollowedLine]) -> Vec<String> {
        lines
            .iter()
            .map(|l| String::from_utf8_lossy(&l.bytes).trim_end().to_owned())
            .collect()
    }

    #[test]
    fn complete_lines_are_handed_out_and_a_partial_one_waits() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = dir.path().join("queue_log");
        append(&log, "a\nb\nc");
        let mut f = Follower::start(&log).expect("start");
        let got = f.poll(100).expect("poll");
        assert_eq!(texts(&got), ["a", "b"]);
        assert_eq!((got[0].number, got[1].number), (1, 2));
        assert!(f.poll(100).expect("poll").is_empty());
        append(&log, "c\nd\n");
        assert_eq!(texts(&f.poll(1).expect("poll")), ["cc"]);
        assert_eq!(texts(&f.poll(100).expect("poll")), ["d"]);
        assert_eq!(f.position().offset, 9);
        assert_eq!(f.position().line, 4);
    }

    #[test]
    fn a_renamed_log_is_read_to_its_end_before_the_new_one() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = dir.path().join("queue_log");
        append(&log, "1\n2\n");
        let mut f = Follower::start(&log).expect("start");
        assert_eq!(texts(&f.poll(100).expect("poll")), ["1", "2"]);
        fs::rename(&log, dir.path().join("queue_log.1")).expect("rename");
        // The writer still writes to the old file; the new one is empty.
        append(&dir.path().join("queue_log.1"), "3\n");
        File::create(&log).expect("new log");
        assert_eq!(texts(&f.poll(100).expect("poll")), ["3"]);
        append(&dir.path().join("queue_log.1"), "4\n");
        append(&log, "5\n");
        let got = f.poll(100).expect("poll");
        assert_eq!(texts(&got), ["4", "5"]);
        assert_eq!(got[1].number, 1);
        assert_eq!(&*got[0].file, dir.path().join("queue_log.1"));
        assert!(matches!(f.take_notices()[..], [Notice::Rotated { .. }]));
    }

    #[test]
    fn a_cut_log_is_read_on_from_its_copy() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = dir.path().join("queue_log");
        append(&log, "1\n2\n");
        let mut f = Follower::start(&log).expect("start");
        assert_eq!(texts(&f.poll(100).expect("poll")), ["1", "2"]);
        append(&log, "3\n");
        fs::copy(&log, dir.path().join("queue_log.1")).expect("copy");
        OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&log)
            .expect("truncate");
        // Written again past the old length before the follower looks: the first line
        // tells that it is not the same file.
        append(&log, "4444444\n");
        assert_eq!(texts(&f.poll(100).expect("poll")), ["3", "4444444"]);
        assert!(matches!(f.take_notices()[..], [Notice::Truncated { .. }]));
    }

    #[test]
    fn a_cut_log_renamed_before_the_copy_was_read_is_found_by_its_inode() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = dir.path().join("queue_log");
        append(&log, "1\n");
        let mut f = Follower::start(&log).expect("start");
        assert_eq!(texts(&f.poll(100).expect("poll")), ["1"]);
        append(&log, "2\n");
        fs::copy(&log, dir.path().join("queue_log.1")).expect("copy");
        OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&log)
            .expect("truncate");
        append(&log, "3\n");
        fs::rename(&log, dir.path().join("queue_log.2")).expect("rename");
        append(&log, "4\n");
        assert_eq!(texts(&f.poll(100).expect("poll")), ["2", "3", "4"]);
    }

    #[test]
    fn a_saved_position_resumes_in_the_log_or_the_file_it_was_rotated_to() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = dir.path().join("queue_log");
        append(&log, "1\n2\n");
        let mut f = Follower::start(&log).expect("start");
        f.poll(100).expect("poll");
        let saved = f.position();
        append(&log, "3\n");
        let mut again = Follower::resume(&log, &saved).expect("resume");
        assert_eq!(texts(&again.poll(100).expect("poll")), ["3"]);
        let saved = again.position();
        assert_eq!(saved.line, 3);

        // Rotated by renaming while stopped.
        append(&log, "4\n");
        fs::rename(&log, dir.path().join("queue_log.1")).expect("rename");
        append(&log, "5\n");
        let mut again = Follower::resume(&log, &saved).expect("resume");
        let got = again.poll(100).expect("poll");
        assert_eq!(texts(&got), ["4", "5"]);
        assert_eq!((got[0].number, got[1].number), (4, 1));
        let saved = again.position();

        // Cut (copytruncate) while stopped.
        append(&log, "6\n");
        fs::copy(&log, dir.path().join("queue_log.2")).expect("copy");
        OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&log)
            .expect("truncate");
        append(&log, "7\n");
        let mut again = Follower::resume(&log, &saved).expect("resume");
        assert_eq!(texts(&again.poll(100).expect("poll")), ["6", "7"]);

        // The file gone for good: said so, and the log read from its start.
        let saved = again.position();
        fs::remove_file(&log).expect("remove");
        fs::remove_file(dir.path().join("queue_log.2")).expect("remove");
        append(&log, "8\n");
        let mut again = Follower::resume(&log, &saved).expect("resume");
        assert!(matches!(again.take_notices()[..], [Notice::Lost { .. }]));
        assert_eq!(texts(&again.poll(100).expect("poll")), ["8"]);
    }

    #[test]
    fn a_checkpoint_is_written_whole_and_read_back() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("bridge.state");
        assert!(Checkpoint::load(&path).expect("none yet").is_none());
        let c = Checkpoint::new(
            Position {
                device: 1,
                inode: 2,
                offset: 3,
                line: 1,
                head: Some("ab".into()),
            },
            ReaderState::default(),
        );
        c.save(&path).expect("save");
        assert_eq!(Checkpoint::load(&path).expect("read"), Some(c));
        assert!(!dir.path().join("bridge.state.tmp").exists());
        fs::write(&path, "{").expect("write");
        let e = Checkpoint::load(&path).expect_err("broken");
        assert!(e.to_string().contains("bridge.state"), "{e}");
    }
}
