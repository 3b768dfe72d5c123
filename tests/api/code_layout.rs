//! The herald binary is linked with the functions a busy Herald runs placed together
//! (`build.rs`, `link/hot-code.ld`): their section exists, holds code, and comes before the rest.
//! A list gone stale (names no longer matching anything) would leave the section small or gone.

/// A section's name, flags, address and size, read from the ELF section headers.
struct Section {
    name: String,
    flags: u64,
    address: u64,
    size: u64,
}

const SHF_EXECINSTR: u64 = 0x4;

fn sections(elf: &[u8]) -> Vec<Section> {
    let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().unwrap()) as usize;
    let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap());
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(elf[4], 2, "not a 64-bit ELF file");
    let table = u64_at(0x28) as usize;
    let (entry, count, names_index) = (u16_at(0x3a), u16_at(0x3c), u16_at(0x3e));
    let header = |index: usize| table + index * entry;
    let names = u64_at(header(names_index) + 24) as usize;
    (0..count)
        .map(|index| {
            let at = header(index);
            let name_at = names + u32_at(at);
            let name_end = elf[name_at..].iter().position(|b| *b == 0).unwrap() + name_at;
            Section {
                name: String::from_utf8_lossy(&elf[name_at..name_end]).into_owned(),
                flags: u64_at(at + 8),
                address: u64_at(at + 16),
                size: u64_at(at + 32),
            }
        })
        .collect()
}

#[test]
fn the_functions_a_busy_herald_runs_are_linked_together_ahead_of_the_rest() {
    let elf = std::fs::read(env!("CARGO_BIN_EXE_herald")).unwrap();
    let sections = sections(&elf);
    let find = |name: &str| {
        sections
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} section"))
    };
    let (hot, rest) = (find(".text.hot"), find(".text"));
    assert!(hot.flags & SHF_EXECINSTR != 0, ".text.hot is not code");
    // The list names about 950 functions, 1.3 MB of an optimised build's code.
    assert!(
        hot.size > 1 << 20,
        ".text.hot holds only {} bytes",
        hot.size
    );
    assert!(
        hot.address < rest.address,
        ".text.hot is not ahead of .text"
    );
}
