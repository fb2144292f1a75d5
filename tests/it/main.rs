//! Integration tests, compiled as one binary. Everything runs against the simulator
//! (`dingtalk-sim`) over real HTTP on 127.0.0.1 (port 0); nothing reaches the internet. What the
//! files share (simulator, config text, store, clocks, the binary) is in `support`.

mod backfill;
mod chaos;
mod cli;
mod client;
mod crash;
mod daemon;
mod demo;
mod doctor;
mod engine;
mod first_day;
mod hostile_ops;
mod hostile_rows;
mod hostile_text;
mod hostile_transport;
mod metering;
mod month;
mod people;
mod private_files;
mod queue;
mod quota_others;
mod replay;
mod report;
mod report_approver;
mod report_month;
mod report_output;
mod report_print;
mod report_xlsx;
mod reverts;
mod short_budget;
mod sink;
mod sink_db;
mod sink_email;
mod sink_enrichment;
mod sink_robot;
mod support;
