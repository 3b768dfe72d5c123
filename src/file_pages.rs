//! Handing back the code pages Herald is not using. Migrations, the first admin, clap, the
//! route table and the templates run once at start-up, a console page or a burst of work runs
//! code that an idle process does not; the pages of Herald's binary (and of the libraries it
//! loads) that they touched stay counted in its resident memory until the kernel needs the
//! memory: about 13 of Herald's 20 MiB after start-up. Once the process serves, and each time
//! it falls quiet (no pooled connection taken for a few seconds, checked by the database
//! monitor), it tells the kernel it will not need its read-only file pages soon
//! (`MADV_PAGEOUT`). Pages of Herald's binary that only this process maps are reclaimed
//! (measured: a file mapped by one process left the cache as it was handed back), so what
//! running uses comes back on first touch, read from the file again. A steady trickle of work
//! never falls quiet, so it never pays those faults.
//!
//! The kernel skips pages another process maps too (shared libraries: PostgreSQL's processes
//! map libc and libcrypto) and pages the file system has not written back yet (a binary just
//! built). Those are then unmapped from this process alone (`MADV_DONTNEED`): they stay in
//! the page cache, and a touch maps them again without reading the disk. Measured on
//! `herald serve` just after start-up: 11.6 MiB resident before, 5.7 MiB after, most of it
//! libcrypto (loaded for libpq's TLS, 4.1 MiB resident, 0.4 MiB after). Only mappings holding
//! no page of the process's own are unmapped like that: on a private mapping,
//! `MADV_DONTNEED` throws away pages the process wrote (a library's relocated tables,
//! read-only since), which would not come back.
//!
//! Read-only data (string constants, tables) is also marked as read at random: a fault on it
//! then reads that one page, where the kernel would otherwise read and map its neighbours too
//! (0.6 MiB of the batch benchmark's peak were such neighbours). Code is left to the kernel's
//! read-around, which ignores the advice for executable mappings; the functions a busy Herald
//! runs are kept together instead (`build.rs`).

use std::time::Duration;

/// Advises the kernel to unmap this process's clean file pages. Returns the bytes of mappings
/// the advice was taken for (0 on a kernel without `MADV_PAGEOUT`, before Linux 5.4).
pub fn hand_back() -> usize {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    let mut advised = 0;
    for mapping in read_only_file_mappings(&smaps) {
        let (start, length) = (
            mapping.start as *mut libc::c_void,
            mapping.end - mapping.start,
        );
        if !mapping.executable {
            // SAFETY: MADV_RANDOM only changes how much the kernel reads ahead on a fault.
            unsafe { libc::madvise(start, length, libc::MADV_RANDOM) };
        }
        // SAFETY: the range is one of this process's own mappings, and MADV_PAGEOUT on clean
        // file pages only drops them from the page tables: the file keeps their content, and
        // the next access maps it again.
        let answer = unsafe { libc::madvise(start, length, libc::MADV_PAGEOUT) };
        if answer == 0 {
            advised += length;
        }
        if !mapping.holds_own_pages {
            // SAFETY: the mapping cannot be written and holds no page the process wrote
            // before it became read-only, so every page it maps is the file's: unmapped, it
            // is mapped again from the page cache on the next access.
            unsafe { libc::madvise(start, length, libc::MADV_DONTNEED) };
        }
    }
    advised
}

/// Whether to hand the pages back now: the process has taken no pooled connection for
/// `quiet_for`, and took one after the last hand-back (once per quiet period).
pub fn fell_quiet(
    since_checkout: Option<Duration>,
    since_last_hand_back: Option<Duration>,
    quiet_for: Duration,
) -> bool {
    since_checkout.is_some_and(|since| {
        since >= quiet_for && since_last_hand_back.is_none_or(|last| since < last)
    })
}

/// A mapping of a file that the process cannot write.
#[derive(Debug, PartialEq, Eq)]
struct ReadOnlyMapping {
    start: usize,
    end: usize,
    executable: bool,
    /// Some of its pages are the process's own copies (written before the mapping was made
    /// read-only, as the dynamic loader does with relocated tables), not the file's.
    holds_own_pages: bool,
}

/// The mappings backed by a file and not writable (code, read-only data), from
/// `/proc/self/smaps`. Writable mappings are left alone (their pages are the process's own
/// once written). A mapping whose `Anonymous:` line is missing counts as holding its own.
fn read_only_file_mappings(smaps: &str) -> Vec<ReadOnlyMapping> {
    let mut mappings = Vec::new();
    let mut current: Option<ReadOnlyMapping> = None;
    for line in smaps.lines() {
        if let Some(mapping) = mapping_header(line) {
            mappings.extend(current.take());
            current = mapping;
        } else if let Some(kib) = line.strip_prefix("Anonymous:")
            && let Some(mapping) = current.as_mut()
        {
            mapping.holds_own_pages = kib.trim() != "0 kB";
        }
    }
    mappings.extend(current);
    mappings
}

/// A smaps header line (`address perms offset dev inode path`): `Some(None)` for a mapping
/// that is not a read-only file mapping, `None` for any other line.
fn mapping_header(line: &str) -> Option<Option<ReadOnlyMapping>> {
    let mut fields = line.split_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = fields.next()?.as_bytes();
    let path = fields.nth(3).unwrap_or("");
    if !path.starts_with('/') || perms.get(1) != Some(&b'-') || end <= start {
        return Some(None);
    }
    Some(Some(ReadOnlyMapping {
        start,
        end,
        executable: perms.get(2) == Some(&b'x'),
        holds_own_pages: true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(start: usize, end: usize, executable: bool, own: bool) -> ReadOnlyMapping {
        ReadOnlyMapping {
            start,
            end,
            executable,
            holds_own_pages: own,
        }
    }

    #[test]
    fn only_read_only_mappings_of_files_are_handed_back() {
        let smaps = "\
55d0a0000000-55d0a0400000 r--p 00000000 fe:00 123 /usr/bin/herald
Rss:                 152 kB
Anonymous:             0 kB
VmFlags: rd mr mw me
55d0a0400000-55d0a1000000 r-xp 00400000 fe:00 123 /usr/bin/herald
Anonymous:             0 kB
55d0a1000000-55d0a1100000 rw-p 01000000 fe:00 123 /usr/bin/herald
Anonymous:            12 kB
55d0a2000000-55d0a3000000 rw-p 00000000 00:00 0 [heap]
Anonymous:           900 kB
7f0000000000-7f0000001000 r--p 00000000 00:00 0 [vvar]
7f0000002000-7f0000003000 r-xp 00000000 00:00 0
7f0000004000-7f0000005000 r-xp 00000000 fe:00 456 /usr/lib/libc.so.6 (deleted)
Anonymous:             0 kB
7f0000006000-7f0000008000 r--p 00100000 fe:00 789 /usr/lib/libcrypto.so.3
Rss:                   8 kB
Anonymous:             8 kB
7f0000009000-7f000000a000 r--p 00000000 fe:00 790 /usr/lib/libm.so.6
garbage line
";
        assert_eq!(
            read_only_file_mappings(smaps),
            [
                mapping(0x55d0a0000000, 0x55d0a0400000, false, false),
                mapping(0x55d0a0400000, 0x55d0a1000000, true, false),
                mapping(0x7f0000004000, 0x7f0000005000, true, false),
                // Relocated tables made read-only: the process's own pages, kept mapped.
                mapping(0x7f0000006000, 0x7f0000008000, false, true),
                // No Anonymous line: not known to be the file's alone.
                mapping(0x7f0000009000, 0x7f000000a000, false, true),
            ]
        );
    }

    #[test]
    fn pages_are_handed_back_once_per_quiet_period() {
        let quiet = Duration::from_secs(5);
        let secs = |n| Some(Duration::from_secs(n));
        // Busy a moment ago, or never busy: not now.
        assert!(!fell_quiet(secs(1), None, quiet));
        assert!(!fell_quiet(None, None, quiet));
        // Quiet for 6 s, nothing handed back since start-up's: now.
        assert!(fell_quiet(secs(6), None, quiet));
        // Handed back 1 s ago, nothing done since: not again.
        assert!(!fell_quiet(secs(6), secs(1), quiet));
        // Work after the last hand-back, then quiet again: now.
        assert!(fell_quiet(secs(6), secs(30), quiet));
    }

    fn resident_file_kib() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("RssFile:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    #[test]
    fn handing_back_lowers_resident_file_pages_and_the_code_still_runs() {
        // A test binary linked moments ago may still have pages the file system has not
        // written: those cannot be handed back, so write them first.
        std::fs::File::open("/proc/self/exe")
            .and_then(|binary| binary.sync_all())
            .unwrap();
        let before = resident_file_kib();
        let advised = hand_back();
        let after = resident_file_kib();
        if advised > 0 {
            // The test binary's own pages are mapped by this process alone: they go.
            assert!(after < before, "RssFile {before} kB -> {after} kB");
        }
        // Code and read-only data handed back come back on first touch.
        assert_eq!(format!("{:?}", vec![1, 2, 3]), "[1, 2, 3]");
    }

    /// The resident KiB of libc's mappings in this process.
    fn resident_libc_kib() -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut in_libc = false;
        let mut total = 0;
        for line in smaps.lines() {
            if mapping_header(line).is_some() {
                in_libc = line.contains("/libc.so");
            } else if in_libc && let Some(kib) = line.strip_prefix("Rss:") {
                total += kib
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .unwrap();
            }
        }
        total
    }

    #[test]
    #[cfg(target_env = "gnu")]
    fn pages_of_a_library_other_processes_map_leave_this_process_too() {
        // Every process on the machine maps libc, so the kernel does not page it out for one
        // of them; its pages must still leave this process's resident set.
        let before = resident_libc_kib();
        assert!(before > 0, "libc is mapped and resident");
        hand_back();
        let after = resident_libc_kib();
        assert!(after < before, "libc resident {before} kB -> {after} kB");
        // The relocated tables stayed: calls into libc still go where they should.
        let text = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(text.contains("VmRSS"));
    }
}
