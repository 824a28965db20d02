//! The Google key a record holds, checked when `add` or `import` stores it rather than on every
//! pull: a key `get` could never sign with, or an `external_account` file whose endpoints fail
//! their pins (docs/google.md, "Pinned endpoints"), is refused. Messages name the problem, never
//! the content.

use crate::error::Result;
use crate::resolve::google::endpoints::Origin;
use crate::resolve::google::key::{GoogleKey, GoogleKeyError};
use crate::settings::Settings;

/// The checks, with the operator's stand-in origin for Google's endpoints read once.
pub(crate) struct KeyCheck {
    origin: Option<Origin>,
}

impl KeyCheck {
    pub(crate) fn from_settings(settings: &Settings) -> Result<KeyCheck> {
        Ok(KeyCheck {
            origin: Origin::from_settings(settings)?,
        })
    }

    /// Why `text` (the key JSON) is no key `get` could use, or `Ok`.
    pub(crate) fn check(&self, text: &str) -> std::result::Result<(), GoogleKeyError> {
        let key = GoogleKey::parse(text)?;
        if let GoogleKey::External(x) = &key {
            x.check_endpoints(self.origin.as_ref())?;
        }
        Ok(())
    }
}
