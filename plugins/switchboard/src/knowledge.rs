//! The knowledge base: which answers an agent sees for a concern at a moment.
//!
//! An entry is valid from `valid_from` (inclusive) until `valid_until` (exclusive), both in
//! the tenant's local wall time; a date alone is the start of that day. So an entry with
//! `valid_until = "2026-11-20"` is shown to a call answered at 23:59:59 on 19 November and
//! not to one answered at 00:00:00 on the 20th, and one with `valid_from =
//! "2026-11-19T12:00"` takes over at noon. Answers keep the order of the configuration.

use leitstand_sdk::chrono::NaiveDateTime;
use leitstand_sdk::{CallAnswered, Command};
use serde::Serialize;

use crate::AGENT_ASSIST;
use crate::config::{Config, Entry};

/// One answer as `agent.assist` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Answer<'c> {
    /// The entry's id.
    pub id: &'c str,
    /// The question.
    pub question: &'c str,
    /// The answer.
    pub answer: &'c str,
    /// Until when the answer holds (local, `YYYY-MM-DDTHH:MM`, exclusive); `null`: for good.
    pub valid_until: Option<String>,
}

/// Whether `entry` is valid at `local`.
pub fn valid_at(entry: &Entry, local: NaiveDateTime) -> bool {
    entry.valid_from.is_none_or(|from| from.0 <= local)
        && entry.valid_until.is_none_or(|until| local < until.0)
}

/// The answers for `concern` (an id) valid at `local`, in configuration order.
pub fn answers<'c>(config: &'c Config, concern: &str, local: NaiveDateTime) -> Vec<Answer<'c>> {
    config
        .knowledge
        .iter()
        .filter(|e| e.concerns.iter().any(|c| c == concern) && valid_at(e, local))
        .map(|e| Answer {
            id: e.id.as_str(),
            question: e.question.as_str(),
            answer: e.answer.as_str(),
            valid_until: e.valid_until.map(|m| m.to_string()),
        })
        .collect()
}

/// `agent.assist` for `call`, answered at `local`, about `concern` (an id): `{call_id,
/// queue, concern, department, knowledge_version, answers}`. `None` when no answer for the
/// concern is valid then: an empty list helps no agent.
pub fn assist(
    config: &Config,
    call: &CallAnswered,
    concern: &str,
    local: NaiveDateTime,
) -> Option<Command> {
    let answers = answers(config, concern, local);
    if answers.is_empty() {
        return None;
    }
    let department = config.concerns.get(concern).map(|c| c.department.as_str());
    Some(
        Command::new(AGENT_ASSIST)
            .subject(&call.call_id)
            .with("call_id", &call.call_id)
            .with("queue", &call.queue)
            .with("concern", concern)
            .with_opt("department", department)
            .with_opt("knowledge_version", config.knowledge_version.as_deref())
            .with("answers", answers),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let c: Config = leitstand_sdk::config::parse(
            r#"{
            "center": {"name": "Servicecenter", "target": "sc"},
            "departments": {"sozialamt": {"name": "Sozialamt", "target": "soz"},
                            "abfall": {"name": "Abfallwirtschaft", "target": "abf"}},
            "concerns": {"wohngeld": {"department": "sozialamt"}, "abfall": {"department": "abfall"},
                         "sperrmuell": {"department": "abfall"}},
            "knowledge_version": "v1",
            "knowledge": [
                {"id": "wg-alt", "question": "Formular?", "answer": "WG-1", "concerns": ["wohngeld"],
                 "valid_until": "2026-11-20"},
                {"id": "wg-neu", "question": "Formular?", "answer": "WG-2", "concerns": ["wohngeld"],
                 "valid_from": "2026-11-20"},
                {"id": "wg-unterlagen", "question": "Unterlagen?", "answer": "Mietvertrag", "concerns": ["wohngeld"]},
                {"id": "laub", "question": "Laub?", "answer": "Laubsäcke", "concerns": ["abfall", "sperrmuell"],
                 "valid_from": "2026-11-19T10:00", "valid_until": "2026-11-22"}]
        }"#,
        )
        .expect("config");
        crate::config::check(&c).expect("valid");
        c
    }

    fn local(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").expect("local time")
    }

    fn ids(answers: &[Answer<'_>]) -> Vec<String> {
        answers.iter().map(|a| a.id.to_owned()).collect()
    }

    #[test]
    fn an_entry_expiring_at_midnight_is_replaced_at_midnight() {
        let c = config();
        let before = answers(&c, "wohngeld", local("2026-11-19T23:59:59"));
        assert_eq!(ids(&before), ["wg-alt", "wg-unterlagen"]);
        assert_eq!(before[0].valid_until.as_deref(), Some("2026-11-20T00:00"));
        assert_eq!(before[1].valid_until, None);
        let after = answers(&c, "wohngeld", local("2026-11-20T00:00:00"));
        assert_eq!(ids(&after), ["wg-neu", "wg-unterlagen"]);
    }

    #[test]
    fn the_assist_command_carries_version_department_and_answers() {
        let c = config();
        let call = CallAnswered {
            call_id: "c7".into(),
            queue: "stadt".into(),
            wait_seconds: 12.0,
            site: None,
            agent_ref: None,
            concern: None,
        };
        let command = assist(&c, &call, "wohngeld", local("2026-11-20T08:00:00")).expect("answers");
        assert_eq!(command.command_type, "agent.assist");
        assert_eq!(command.subject.as_deref(), Some("c7"));
        assert_eq!(
            serde_json::Value::Object(command.data),
            serde_json::json!({"call_id": "c7", "queue": "stadt", "concern": "wohngeld",
                "department": "sozialamt", "knowledge_version": "v1",
                "answers": [
                    {"id": "wg-neu", "question": "Formular?", "answer": "WG-2", "valid_until": null},
                    {"id": "wg-unterlagen", "question": "Unterlagen?", "answer": "Mietvertrag", "valid_until": null}]})
        );
        // No answer valid: no command at all.
        assert!(assist(&c, &call, "abfall", local("2026-11-19T09:00:00")).is_none());
    }

    #[test]
    fn validity_is_from_inclusive_until_exclusive() {
        let c = config();
        assert!(answers(&c, "abfall", local("2026-11-19T09:59:59")).is_empty());
        assert_eq!(
            ids(&answers(&c, "abfall", local("2026-11-19T10:00:00"))),
            ["laub"]
        );
        assert_eq!(
            ids(&answers(&c, "sperrmuell", local("2026-11-21T23:59:59"))),
            ["laub"]
        );
        assert!(answers(&c, "sperrmuell", local("2026-11-22T00:00:00")).is_empty());
        assert!(answers(&c, "unbekannt", local("2026-11-20T12:00:00")).is_empty());
    }
}
