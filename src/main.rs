fn main() {
    std::process::exit(baseimg::cli::main());
}
