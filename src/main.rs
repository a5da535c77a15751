fn main() {
    std::process::exit(quench::cli::run());
}
