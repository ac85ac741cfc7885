//! `herald dns [--check] [--resolver IP:PORT]`: the records to publish for
//! the configured domains, and whether DNS serves them.

use std::net::SocketAddr;
use std::process::ExitCode;

use crate::config::Config;
use crate::dns::{self, Plan};

pub async fn run(config: &Config, check: bool, resolver: Option<SocketAddr>) -> ExitCode {
    let plan = match dns::plan(config) {
        Ok(plan) => plan,
        Err(error) => {
            eprintln!("herald: {error}");
            return ExitCode::from(2);
        }
    };
    if check {
        check_records(&plan, resolver).await
    } else {
        print_zone(&plan);
        ExitCode::SUCCESS
    }
}

fn print_zone(plan: &Plan) {
    println!("; DNS records for Herald's mail, in zone file form.");
    for note in &plan.notes {
        println!(";");
        for line in note.lines() {
            println!("; {line}");
        }
    }
    for record in &plan.records {
        println!(";");
        for line in textwrap::wrap(&record.note, 76) {
            println!("; {line}");
        }
        println!("{}", record.zone_line());
    }
    println!(";\n; Check what DNS serves with `herald dns --check`.");
}

async fn check_records(plan: &Plan, server: Option<SocketAddr>) -> ExitCode {
    for note in &plan.notes {
        println!("note: {}", note.replace('\n', "\n      "));
    }
    let resolver = match dns::resolver(server) {
        Ok(resolver) => resolver,
        Err(error) => {
            eprintln!("herald: {error}");
            return ExitCode::FAILURE;
        }
    };
    let findings = dns::check(&resolver, plan).await;
    let mut all_ok = true;
    for finding in &findings {
        all_ok &= finding.verdict.is_ok();
        println!(
            "{:<7} {} {}: {}",
            finding.verdict.label(),
            finding.record.name,
            finding.record.kind.as_str(),
            finding.verdict.detail()
        );
        if !finding.verdict.is_ok() {
            println!("        publish: {}", finding.record.zone_line());
        }
    }
    if all_ok {
        println!("All {} records are in place.", findings.len());
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
