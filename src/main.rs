fn main() {
    println!("akari {}", env!("CARGO_PKG_VERSION"));
}
