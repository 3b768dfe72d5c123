//! How easy a password is to guess, judged by zxcvbn. Once zxcvbn has judged one password it
//! keeps its dictionaries (about 5 MiB of hash tables) for the life of the process. A
//! long-running `herald serve` judges passwords rarely (the first admin's, a new user's, a
//! changed one), so it asks a short-lived `herald judge-password` process of its own binary,
//! and its resident memory stays small. Without that helper (the tests, a program using the
//! library, or the helper failing to start) the judgement runs in this process.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use zxcvbn::Score;

/// zxcvbn's scale: 3 = "safely unguessable" (about 10^10 guesses), what its authors advise
/// as the least to accept.
const MIN_SCORE: Score = Score::Three;

static HELPER: OnceLock<PathBuf> = OnceLock::new();

/// Judge passwords in `herald judge-password` processes started from `executable`.
pub fn use_helper_process(executable: PathBuf) {
    let _ = HELPER.set(executable);
}

/// What the helper reads on its standard input (never on its command line).
#[derive(Serialize, Deserialize)]
pub struct Question {
    pub password: String,
    /// Words an attacker would try first: the username, the product's name.
    pub known: Vec<String>,
}

/// What it answers on its standard output.
#[derive(Serialize, Deserialize)]
pub struct Verdict {
    /// `None`: strong enough; else what to tell the person.
    pub too_weak: Option<String>,
}

/// `Err` with advice when `password` is too easy to guess.
pub fn judge(password: &str, known: &[&str]) -> Result<(), String> {
    let question = Question {
        password: password.to_owned(),
        known: known.iter().map(|word| (*word).to_owned()).collect(),
    };
    let verdict = match HELPER.get() {
        Some(executable) => ask_helper(executable, &question).unwrap_or_else(|err| {
            tracing::warn!("the password judge process failed ({err:#}); judging here");
            judge_here(&question)
        }),
        None => judge_here(&question),
    };
    match verdict.too_weak {
        None => Ok(()),
        Some(advice) => Err(advice),
    }
}

/// The judgement in this process (what the helper itself runs).
pub fn judge_here(question: &Question) -> Verdict {
    let known: Vec<&str> = question.known.iter().map(String::as_str).collect();
    let estimate = zxcvbn::zxcvbn(&question.password, &known);
    Verdict {
        too_weak: (estimate.score() < MIN_SCORE).then(|| advice(estimate.feedback())),
    }
}

fn ask_helper(executable: &PathBuf, question: &Question) -> anyhow::Result<Verdict> {
    let mut child = Command::new(executable)
        .arg("judge-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    stdin.write_all(&serde_json::to_vec(question)?)?;
    drop(stdin);
    let output = child.wait_with_output()?;
    anyhow::ensure!(output.status.success(), "it exited with {}", output.status);
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// "This password is too easy to guess." followed by what the estimator found and suggests.
fn advice(feedback: Option<&zxcvbn::feedback::Feedback>) -> String {
    let mut message = String::from("This password is too easy to guess.");
    let Some(feedback) = feedback else {
        message.push_str(" Add a few uncommon words.");
        return message;
    };
    if let Some(warning) = feedback.warning() {
        message.push_str(&format!(" {warning}"));
    }
    if feedback.suggestions().is_empty() {
        message.push_str(" Add a few uncommon words.");
    }
    for suggestion in feedback.suggestions() {
        message.push_str(&format!(" {suggestion}"));
    }
    message
}
