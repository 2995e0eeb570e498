//! `wardbook-server`: the central sync service. For now it only reports its
//! version and the wire protocol version it speaks; the service itself comes
//! with the server issue.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("--version" | "-V" | "version") => {
            #[allow(clippy::print_stdout)]
            {
                println!("wardbook-server {} (protocol {})", env!("CARGO_PKG_VERSION"), wardbook_protocol::API_VERSION);
            }
        }
        Some(_) => {
            eprintln!("wardbook-server: unknown command. Run `wardbook-server --version`.");
            std::process::exit(2);
        }
    }
}
