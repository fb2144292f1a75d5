//! The `dingtalk-reconcile` binary (command line being assembled).

fn main() -> std::process::ExitCode {
    eprintln!("dingtalk-reconcile: the command line is not assembled yet");
    std::process::ExitCode::from(dingtalk_reconcile::exit::FAILED)
}
