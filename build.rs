// `sqlx::migrate!` embeds the migrations at compile time; without this, a new
// migration file alone does not make cargo rebuild the binary.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
