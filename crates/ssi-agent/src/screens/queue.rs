//! The prompt queue: first in, first shown; only the head is on the screen and only
//! the head can be answered, by its nonce.

use std::collections::VecDeque;

use tokio::sync::oneshot;

use super::pairing::{new_secret, secrets_equal};
use super::{AppFace, Prompt, ScreenAnswer};

#[derive(Default)]
pub(super) struct Queue {
    /// Set by [`Queue::time_out_all`] at shutdown: later prompts time out at once.
    closed: bool,
    next_id: u64,
    waiting: VecDeque<Entry>,
}

struct Entry {
    id: u64,
    /// Names this prompt in the page's answer; unguessable, so an answer is tied to
    /// the prompt that was on the screen when the owner pressed the button.
    nonce: String,
    app: AppFace,
    prompt: Prompt,
    answer: oneshot::Sender<ScreenAnswer>,
}

/// A copy of the prompt on the screen, for rendering.
#[derive(Debug, Clone)]
pub(super) struct Shown {
    pub nonce: String,
    pub app: AppFace,
    pub prompt: Prompt,
}

/// What the screen client chose (the page's form values, parsed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Choice {
    Allow,
    NotNow,
    /// The index of an entry of a login selection.
    Select(usize),
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum AnswerError {
    #[error("the prompt is no longer on the screen")]
    StalePrompt,
    #[error("the choice does not fit the prompt on the screen")]
    ChoiceDoesNotFit,
}

impl Queue {
    /// Appends a prompt; returns its id and whether it went straight on the screen.
    pub fn push(
        &mut self,
        app: AppFace,
        prompt: Prompt,
        answer: oneshot::Sender<ScreenAnswer>,
    ) -> (u64, bool) {
        if self.closed {
            let _ = answer.send(ScreenAnswer::TimedOut);
            return (0, false);
        }
        self.next_id += 1;
        let id = self.next_id;
        self.waiting.push_back(Entry {
            id,
            nonce: new_secret(),
            app,
            prompt,
            answer,
        });
        (id, self.waiting.len() == 1)
    }

    pub fn is_shown(&self, id: u64) -> bool {
        self.waiting.front().is_some_and(|entry| entry.id == id)
    }

    pub fn shown(&self) -> Option<Shown> {
        self.waiting.front().map(|entry| Shown {
            nonce: entry.nonce.clone(),
            app: entry.app.clone(),
            prompt: entry.prompt.clone(),
        })
    }

    /// Removes prompt `id` if queued; returns whether it was the one on the screen.
    pub fn withdraw(&mut self, id: u64) -> bool {
        let Some(position) = self.waiting.iter().position(|entry| entry.id == id) else {
            return false;
        };
        self.waiting.remove(position);
        position == 0
    }

    /// Answers every queued prompt with [`ScreenAnswer::TimedOut`], empties the queue
    /// and keeps it closed.
    pub fn time_out_all(&mut self) {
        self.closed = true;
        for entry in self.waiting.drain(..) {
            let _ = entry.answer.send(ScreenAnswer::TimedOut);
        }
    }

    /// Answers the prompt on the screen if `nonce` names it and `choice` fits it, and
    /// takes it off the queue.
    pub fn answer(&mut self, nonce: &str, choice: Choice) -> Result<(), AnswerError> {
        let head = self.waiting.front().ok_or(AnswerError::StalePrompt)?;
        if !secrets_equal(&head.nonce, nonce) {
            return Err(AnswerError::StalePrompt);
        }
        let answer = match (&head.prompt, choice) {
            (Prompt::Consent { .. }, Choice::Allow) => ScreenAnswer::Allow,
            (Prompt::Consent { .. }, Choice::NotNow) => ScreenAnswer::NotNow,
            (Prompt::LoginSelection { entries }, Choice::Select(index)) => {
                let entry = entries.get(index).ok_or(AnswerError::ChoiceDoesNotFit)?;
                ScreenAnswer::Selected {
                    link_id: entry.link_id.clone(),
                }
            }
            (Prompt::LoginSelection { .. }, Choice::Manual) => ScreenAnswer::ManualSignIn,
            _ => return Err(AnswerError::ChoiceDoesNotFit),
        };
        let head = self.waiting.pop_front().expect("the head was just read");
        // The caller may have gone away in the same instant; its guard finds nothing.
        let _ = head.answer.send(answer);
        Ok(())
    }
}
