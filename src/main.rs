fn main() {
    eprintln!("kiln: no commands yet");
    std::process::exit(2);
}
