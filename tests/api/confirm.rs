use crate::support::Backend;
