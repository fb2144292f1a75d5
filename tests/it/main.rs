//! Integration tests, compiled as one binary. Everything runs against the simulator over real
//! HTTP on 127.0.0.1 (port 0); nothing reaches the internet.

mod cli;
mod client;
mod crash;
mod daemon;
mod demo;
mod engine;
mod sim;
mod sink;
