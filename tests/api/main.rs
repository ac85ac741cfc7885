//! The integration suite: the real application, started on port 0, over real
//! HTTP, a real database and a real SMTP conversation. One binary, one link step.

mod support;

mod abuse;
mod accounts;
mod archive;
mod audit;
mod authorization;
mod bounce_guards;
mod bounce_reports;
mod bounces;
mod confirm;
mod database_link;
mod dkim_verify;
mod fields;
mod health;
mod issues;
mod mail_filters;
mod mailbox;
mod metrics;
mod outbox;
mod preferences;
mod segments;
mod sending;
mod signup;
mod smtp_pool;
mod subscribers;
mod suppressions;
mod topics;
mod unsubscribe;
mod web;
mod webhooks;
