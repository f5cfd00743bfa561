//! Staff notices: one short text an admin (or the console) posts for every clinician page
//! and printout ("検査結果は内線1234へ電話で"), shown until withdrawn. Posting and
//! withdrawing are recorded in the ledger before they take effect (fail closed). The
//! notice is a message to staff, never patient data.

use super::Accounts;
use crate::event::{Action, Client};
use crate::model::Notice;
use crate::session::AdminCapability;
use crate::store::{MODE, NOTICE_KEY};
use crate::{Error, Result};

/// The longest notice, in characters: a line or two at the top of a page.
pub const MAX_NOTICE_CHARS: usize = 200;

/// The notice as posted: trimmed, one line (line breaks become spaces), no control
/// characters, 1 to [`MAX_NOTICE_CHARS`] characters.
fn notice_text(text: &str) -> Result<String> {
    let text: String = text
        .trim()
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    let invalid = |problem: String| Error::Invalid {
        field: "notice",
        problem,
    };
    if text.is_empty() {
        return Err(invalid("must not be empty".into()));
    }
    if text.chars().count() > MAX_NOTICE_CHARS {
        return Err(invalid(format!(
            "must be at most {MAX_NOTICE_CHARS} characters"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid("must not contain control characters".into()));
    }
    Ok(text)
}

impl Accounts {
    /// The notice shown now, if any.
    pub fn notice(&self) -> Result<Option<Notice>> {
        self.store.get(MODE, NOTICE_KEY)
    }

    /// Posts `text` as the notice (replacing the one shown), recorded first.
    pub fn post_notice(
        &self,
        cap: &AdminCapability,
        text: &str,
        client: &Client,
    ) -> Result<Notice> {
        let text = notice_text(text)?;
        self.store.write(|tx| {
            let mode = self.tx_mode(tx)?.mode;
            let _receipt = self.audit(
                mode,
                cap.actor(),
                Action::NoticePosted { text: text.clone() },
                None,
                client,
            )?;
            let notice = Notice {
                text: text.clone(),
                posted_at: self.clock.now(),
                posted_by: cap.actor(),
            };
            tx.put(MODE, NOTICE_KEY, &notice)?;
            Ok(notice)
        })
    }

    /// Withdraws the notice, recorded first. `None` (and nothing recorded) when no notice
    /// is shown.
    pub fn withdraw_notice(
        &self,
        cap: &AdminCapability,
        client: &Client,
    ) -> Result<Option<Notice>> {
        self.store.write(|tx| {
            let Some(notice) = tx.get::<Notice>(MODE, NOTICE_KEY)? else {
                return Ok(None);
            };
            let mode = self.tx_mode(tx)?.mode;
            let _receipt = self.audit(mode, cap.actor(), Action::NoticeWithdrawn, None, client)?;
            tx.remove(MODE, NOTICE_KEY)?;
            Ok(Some(notice))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_is_one_bounded_line() {
        assert_eq!(
            notice_text("  検査結果は\n内線1234へ電話で ").unwrap(),
            "検査結果は 内線1234へ電話で"
        );
        assert!(notice_text("   ").is_err());
        assert!(notice_text(&"あ".repeat(MAX_NOTICE_CHARS)).is_ok());
        assert!(notice_text(&"あ".repeat(MAX_NOTICE_CHARS + 1)).is_err());
        assert!(notice_text("bell\u{7}").is_err());
    }
}
