//! Herald: a self-hosted newsletter service. Double opt-in signup, a
//! subscriber list on SQLite or PostgreSQL, and mail over SMTP.

pub mod accounts;
pub mod audit;
pub mod bounces;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod dns;
pub mod fields;
pub mod format;
pub mod issues;
pub mod mail;
pub mod reports;
pub mod segments;
pub mod startup;
pub mod store;
pub mod subscriptions;
pub mod suppressions;
pub mod telemetry;
pub mod topics;
pub mod web;
pub mod webhooks;
