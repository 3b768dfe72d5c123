//! Places the functions a busy Herald runs together at the start of its code (the list is
//! `link/hot-code.ld`, made by `link/profile-hot-code.sh`): the code pages it keeps resident
//! while delivering are then few and dense instead of scattered over the whole binary.

fn main() {
    println!("cargo:rerun-if-changed=link/hot-code.ld");
    // A linker script of INSERT commands adds to the default layout (GNU ld and LLD alike);
    // other platforms' linkers do not read it.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{dir}/link/hot-code.ld");
    }
}
