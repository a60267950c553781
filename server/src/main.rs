fn main() {
    println!("fieldloop-server: not yet");
}
