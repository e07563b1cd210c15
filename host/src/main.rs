fn main() -> std::process::ExitCode {
    proactive_host::cli::main()
}
