//! Domain types of the subscriber side: once a value has one of these types,
//! it is valid, and nothing downstream checks it again.

mod email;
mod name;
mod status;
mod typo;

pub use email::{
    display_address, is_default_ignorable, EmailError, SubscriberEmail, MAX_EMAIL_LENGTH,
};
pub use name::{NameError, SubscriberName, MAX_NAME_LENGTH};
pub use status::SubscriberStatus;
pub use typo::{suggest_correction, suggest_for_raw};
