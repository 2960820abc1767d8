//! Integration tests of `netbase_runtime::workspace`: single-writer locking, header validation,
//! cross-process reads, read-only enforcement and object access checks.
//!
//! Tests that need a second process re-run this test binary with `--exact <child test>` and
//! the environment variable `NETBASE_WS_TEST_CHILD` saying what the child should do; the child
//! tests do nothing when it is unset. Every test uses its own workspace name and removes the
//! file through a `RemoveGuard`, so a failing test leaves nothing behind in `/dev/shm`.

use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use netbase_runtime::workspace::{
    Access, Backing, CreateOptions, JoinOptions, RemoveGuard, Workspace, WorkspaceError,
    FORMAT_VERSION, HEADER_SIZE, MAGIC, SHM_DIR_ENV,
};

const FINGERPRINT: u64 = 0x5eed_0000_1234_abcd;
const CHILD_ENV: &str = "NETBASE_WS_TEST_CHILD";

/// A name no other test (or concurrent run of this binary) uses.
fn unique_name(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("t-{tag}-{}-{n}", std::process::id())
}

fn guard(name: &str) -> RemoveGuard {
    RemoveGuard::new(name, &Backing::Shm).expect("valid test name")
}

fn create(name: &str, size: u64) -> Workspace {
    Workspace::create(&CreateOptions::new(name, size, FINGERPRINT)).expect("create workspace")
}

/// A directory under the system temp dir, removed with its contents on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(unique_name(tag));
        fs::create_dir(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs child test `test` of this binary with `CHILD_ENV=task`.
fn run_child(test: &str, task: &str, env: &[(&str, &OsStr)]) -> Output {
    let exe = std::env::current_exe().expect("test binary path");
    let mut command = Command::new(exe);
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, task);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("spawn child test process")
}

/// What the child printed after the `CHILD ` marker, one entry per line. The harness prints
/// other lines too, and the first marker shares its line with the harness's `test NAME ... `.
fn child_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| Some(line[line.find("CHILD ")? + "CHILD ".len()..].to_owned()))
        .collect()
}

fn describe(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The task this process was started for, if it is a child.
fn child_task() -> Option<Vec<String>> {
    let task = std::env::var(CHILD_ENV).ok()?;
    Some(task.split(' ').map(str::to_owned).collect())
}

fn say(line: &str) {
    let mut stdout = std::io::stdout();
    writeln!(stdout, "CHILD {line}").unwrap();
    stdout.flush().unwrap();
}

// ---- 1. single writer ----------------------------------------------------------------------

#[test]
fn shared_writable_joins_coexist_with_the_writer_and_leave_its_lock_alone() {
    let name = unique_name("shared");
    let _guard = guard(&name);
    let writer = create(&name, 4096);
    let shared = |n: &str| {
        Workspace::join_with(&JoinOptions::new(n, FINGERPRINT, Access::ReadOnly).shared_writable())
            .expect("shared-writable join next to the writer")
    };
    let (a, b) = (shared(&name), shared(&name));
    assert_eq!(a.access(), Access::ReadWrite);
    let word: &AtomicU64 = a.object(HEADER_SIZE).unwrap();
    word.store(42, Ordering::Relaxed);
    let seen: &AtomicU64 = b.object(HEADER_SIZE).unwrap();
    assert_eq!(
        seen.load(Ordering::Relaxed),
        42,
        "both map the same writable pages"
    );
    drop(a);
    drop(b);
    // Neither took nor released the writer's state: a second writer is still refused.
    assert_eq!(writer.writer_pid(), Some(std::process::id()));
    assert!(matches!(
        Workspace::join(&name, FINGERPRINT, Access::ReadWrite),
        Err(WorkspaceError::WriterPresent { .. })
    ));
    drop(writer);
    let next = Workspace::join(&name, FINGERPRINT, Access::ReadWrite).expect("lock released");
    assert!(!next.previous_writer_crashed());
}

#[test]
fn second_writer_is_refused_until_the_first_is_gone() {
    let name = unique_name("writer");
    let _guard = guard(&name);
    let writer = create(&name, 4096);
    assert_eq!(writer.access(), Access::ReadWrite);
    assert_eq!(writer.writer_pid(), Some(std::process::id()));

    let err = Workspace::join(&name, FINGERPRINT, Access::ReadWrite).unwrap_err();
    match &err {
        WorkspaceError::WriterPresent { name: n, pid } => {
            assert_eq!(n, &name);
            assert_eq!(*pid, Some(std::process::id()));
        }
        other => panic!("expected WriterPresent, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "workspace `{name}` already has a writer (pid {}); a workspace has exactly one \
             writing process",
            std::process::id()
        )
    );

    drop(writer);
    let second = Workspace::join(&name, FINGERPRINT, Access::ReadWrite).expect("lock released");
    assert!(!second.previous_writer_crashed());
    assert_eq!(second.writer_pid(), Some(std::process::id()));
}

#[test]
fn file_is_created_world_readable_and_only_once() {
    let name = unique_name("mode");
    let _guard = guard(&name);
    let ws = create(&name, 0);
    let mode = fs::metadata(ws.path()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
    assert_eq!(ws.path().file_name().unwrap(), &*format!("netbase-{name}"));

    let err = Workspace::create(&CreateOptions::new(&name, 0, FINGERPRINT)).unwrap_err();
    assert!(
        matches!(err, WorkspaceError::AlreadyExists { .. }),
        "{err:?}"
    );
}

#[test]
fn child_crash_writer() {
    let Some(task) = child_task() else { return };
    if task[0] != "crash-writer" {
        return;
    }
    let ws = Workspace::join(&task[1], FINGERPRINT, Access::ReadWrite).expect("child joins");
    say(&format!("joined pid={}", std::process::id()));
    // Exits without running destructors, so the header still names this process as the
    // attached writer: to the next writer this looks exactly like a crash.
    std::mem::forget(ws);
    std::process::exit(0);
}

#[test]
fn crashed_writer_does_not_block_its_successor() {
    let name = unique_name("crash");
    let _guard = guard(&name);
    drop(create(&name, 4096));

    let output = run_child("child_crash_writer", &format!("crash-writer {name}"), &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let lines = child_lines(&output);
    let child_pid: u32 = lines
        .iter()
        .find_map(|line| line.strip_prefix("joined pid="))
        .unwrap_or_else(|| panic!("child did not join: {}", describe(&output)))
        .parse()
        .unwrap();

    let reader = Workspace::join(&name, FINGERPRINT, Access::ReadOnly).unwrap();
    assert_eq!(
        reader.writer_pid(),
        Some(child_pid),
        "stale pid stays visible"
    );
    assert!(reader.header().writer_attached());

    let writer = Workspace::join(&name, FINGERPRINT, Access::ReadWrite).expect("lock was freed");
    assert!(writer.previous_writer_crashed());
    assert_eq!(reader.writer_pid(), Some(std::process::id()));
}

// ---- 2. fingerprint ------------------------------------------------------------------------

#[test]
fn fingerprint_mismatch_names_both_values() {
    let name = unique_name("fp");
    let _guard = guard(&name);
    let theirs = 0x1111_2222_3333_4444;
    let ours = 0xaaaa_bbbb_cccc_dddd;
    let _writer = Workspace::create(&CreateOptions::new(&name, 0, theirs)).unwrap();

    for access in [Access::ReadOnly, Access::ReadWrite] {
        let err = Workspace::join(&name, ours, access).unwrap_err();
        assert!(
            matches!(
                err,
                WorkspaceError::FingerprintMismatch { ours: o, theirs: t, .. }
                    if o == ours && t == theirs
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "workspace `{name}` has layout fingerprint 0x1111222233334444 but this process \
                 was built for 0xaaaabbbbccccdddd: both sides must be built from the same schema \
                 (rebuild, or restart the instance)"
            )
        );
    }
}

// ---- 3. malformed files --------------------------------------------------------------------

#[test]
fn a_file_without_the_magic_is_not_a_workspace() {
    let name = unique_name("magic");
    let guard = guard(&name);
    fs::write(guard.path(), vec![0u8; 8192]).unwrap();
    let err = Workspace::join(&name, FINGERPRINT, Access::ReadOnly).unwrap_err();
    assert!(
        matches!(err, WorkspaceError::BadMagic { found: 0, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("is not a netbase workspace"),
        "{err}"
    );

    // A writer must not take the lock of a file that is not a workspace.
    let err = Workspace::join(&name, FINGERPRINT, Access::ReadWrite).unwrap_err();
    assert!(matches!(err, WorkspaceError::BadMagic { .. }), "{err:?}");
}

#[test]
fn files_shorter_than_a_header_are_truncated() {
    let name = unique_name("short");
    let guard = guard(&name);
    for contents in [&b""[..], b"NETBASE\x01", b"hello"] {
        fs::write(guard.path(), contents).unwrap();
        let err = Workspace::join(&name, FINGERPRINT, Access::ReadOnly).unwrap_err();
        match err {
            WorkspaceError::Truncated {
                file_size,
                expected,
                ..
            } => {
                assert_eq!(file_size, contents.len() as u64);
                assert_eq!(expected, HEADER_SIZE);
            }
            other => panic!("expected Truncated, got {other:?}"),
        }
    }
}

#[test]
fn a_resized_file_is_refused() {
    let name = unique_name("resize");
    let guard = guard(&name);
    let size = create(&name, 3 * 4096).size();
    let file = OpenOptions::new().write(true).open(guard.path()).unwrap();

    file.set_len(size + 4096).unwrap();
    let err = Workspace::join(&name, FINGERPRINT, Access::ReadOnly).unwrap_err();
    assert!(
        matches!(err, WorkspaceError::SizeMismatch { file_size, recorded, .. }
            if file_size == size + 4096 && recorded == size),
        "{err:?}"
    );

    file.set_len(size - 4096).unwrap();
    let err = Workspace::join(&name, FINGERPRINT, Access::ReadOnly).unwrap_err();
    assert!(
        matches!(err, WorkspaceError::Truncated { file_size, expected, .. }
            if file_size == size - 4096 && expected == size),
        "{err:?}"
    );
    assert!(err.to_string().contains("is truncated"), "{err}");
}

#[test]
fn other_format_versions_and_header_sizes_are_refused() {
    let name = unique_name("version");
    let guard = guard(&name);
    drop(create(&name, 0));
    let file = OpenOptions::new().write(true).open(guard.path()).unwrap();

    file.write_all_at(&(FORMAT_VERSION + 1).to_ne_bytes(), 8)
        .unwrap();
    let err = Workspace::join(&name, FINGERPRINT, Access::ReadOnly).unwrap_err();
    assert!(
        matches!(err, WorkspaceError::UnsupportedFormat { format_version, header_size: 4096, .. }
            if format_version == FORMAT_VERSION + 1),
        "{err:?}"
    );

    file.write_all_at(&FORMAT_VERSION.to_ne_bytes(), 8).unwrap();
    file.write_all_at(&8192u32.to_ne_bytes(), 12).unwrap();
    let err = Workspace::join(&name, FINGERPRINT, Access::ReadOnly).unwrap_err();
    assert!(
        matches!(
            err,
            WorkspaceError::UnsupportedFormat {
                header_size: 8192,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("8192-byte header"), "{err}");
}

#[test]
fn missing_workspaces_and_bad_names_give_errors() {
    let name = unique_name("missing");
    let err = Workspace::join(&name, FINGERPRINT, Access::ReadOnly).unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let err = Workspace::remove(&name).unwrap_err();
    assert!(err.is_not_found(), "{err:?}");

    for bad in ["", ".hidden", "a/b", "../etc", &"x".repeat(49)] {
        let errors = [
            Workspace::join(bad, FINGERPRINT, Access::ReadOnly).unwrap_err(),
            Workspace::create(&CreateOptions::new(bad, 0, FINGERPRINT)).unwrap_err(),
            Workspace::remove(bad).unwrap_err(),
        ];
        for err in errors {
            assert!(
                matches!(err, WorkspaceError::InvalidName { .. }),
                "{bad:?}: {err:?}"
            );
            assert!(
                err.to_string().starts_with("invalid workspace name"),
                "{err}"
            );
        }
    }
}

#[test]
fn remove_on_drop_and_remove() {
    let name = unique_name("remove");
    let _guard = guard(&name);
    let mut ws = create(&name, 0);
    let path = ws.path().to_owned();
    ws.remove_on_drop(true);
    drop(ws);
    assert!(!path.exists());

    drop(create(&name, 0));
    assert!(path.exists());
    Workspace::remove(&name).unwrap();
    assert!(!path.exists());
}

// ---- 4. another process reads what the writer wrote ----------------------------------------

const PATTERN_OFFSET: u64 = HEADER_SIZE;
const PATTERN_WORDS: [u64; 4] = [1, 0xdead_beef_cafe_f00d, u64::MAX, 42];

fn pattern_bytes() -> [u8; 64] {
    std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(1))
}

fn describe_pattern(words: &[u64; 4], bytes: &[u8; 64], generation: u64) -> String {
    let words: Vec<String> = words.iter().map(|w| format!("{w:#x}")).collect();
    let bytes: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "words={} bytes={bytes} generation={generation}",
        words.join(",")
    )
}

#[test]
fn child_read_pattern() {
    let Some(task) = child_task() else { return };
    if task[0] != "read-pattern" {
        return;
    }
    let ws = Workspace::join(&task[1], FINGERPRINT, Access::ReadOnly).expect("child joins");
    let words: [u64; 4] = ws.read_volatile_copy(PATTERN_OFFSET).unwrap();
    let bytes: [u8; 64] = ws.read_volatile_copy(PATTERN_OFFSET + 32).unwrap();
    say(&describe_pattern(&words, &bytes, ws.generation()));
    say(&format!("writer={:?}", ws.writer_pid()));
}

#[test]
fn another_process_reads_what_the_writer_wrote() {
    let name = unique_name("pattern");
    let _guard = guard(&name);
    let mut ws = create(&name, 4096);
    ws.write_copy(PATTERN_OFFSET, &PATTERN_WORDS).unwrap();
    let bytes = pattern_bytes();
    ws.bytes_mut().unwrap()[32..96].copy_from_slice(&bytes);
    for _ in 0..3 {
        ws.bump_generation().unwrap();
    }

    let output = run_child("child_read_pattern", &format!("read-pattern {name}"), &[]);
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(
        child_lines(&output),
        [
            describe_pattern(&PATTERN_WORDS, &bytes, 3),
            format!("writer=Some({})", std::process::id()),
        ],
        "{}",
        describe(&output)
    );
}

#[test]
fn child_create_in_env_dir() {
    let Some(task) = child_task() else { return };
    if task[0] != "create-in-env-dir" {
        return;
    }
    let ws = create(&task[1], 0);
    say(&format!("path={}", ws.path().display()));
}

#[test]
fn netbase_shm_dir_moves_the_file() {
    let dir = TempDir::new("shmdir");
    let name = unique_name("envdir");
    let output = run_child(
        "child_create_in_env_dir",
        &format!("create-in-env-dir {name}"),
        &[(SHM_DIR_ENV, dir.0.as_os_str())],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let expected = dir.0.join(format!("netbase-{name}"));
    assert_eq!(
        child_lines(&output),
        [format!("path={}", expected.display())]
    );
    let contents = fs::read(&expected).unwrap();
    assert_eq!(&contents[..8], b"NETBASE\x01");
    assert_eq!(contents.len() as u64, HEADER_SIZE);
    assert!(!Path::new("/dev/shm")
        .join(format!("netbase-{name}"))
        .exists());
}

// ---- 5. read-only mappings fault on write --------------------------------------------------

#[test]
fn child_write_read_only() {
    let Some(task) = child_task() else { return };
    if task[0] != "write-read-only" {
        return;
    }
    let ws = Workspace::join(&task[1], FINGERPRINT, Access::ReadOnly).expect("child joins");
    say("writing");
    let target = ws.base_ptr().wrapping_add(HEADER_SIZE as usize);
    // SAFETY: `target` is inside the mapping (the workspace is larger than its header) and no
    // reference to that byte exists. The mapping is PROT_READ, so this store is expected to
    // fault and kill the process, which is what the parent test checks.
    unsafe { target.write_volatile(0xaa) };
    say("survived");
}

#[test]
fn writing_through_a_read_only_mapping_faults() {
    let name = unique_name("rofault");
    let _guard = guard(&name);
    let ws = create(&name, 4096);

    let output = run_child(
        "child_write_read_only",
        &format!("write-read-only {name}"),
        &[],
    );
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGSEGV),
        "{}",
        describe(&output)
    );
    assert_eq!(child_lines(&output), ["writing"], "{}", describe(&output));
    let byte: u8 = ws.read_volatile_copy(HEADER_SIZE).unwrap();
    assert_eq!(byte, 0, "the write must not have reached the workspace");
}

// ---- 6. readers next to the writer ---------------------------------------------------------

#[test]
fn a_reader_sees_the_writers_publications() {
    let name = unique_name("reader");
    let _guard = guard(&name);
    let writer = create(&name, 4096);
    let mut reader = Workspace::join(&name, FINGERPRINT, Access::ReadOnly).unwrap();
    assert_eq!(reader.access(), Access::ReadOnly);
    assert_eq!(reader.size(), writer.size());
    assert_eq!(reader.fingerprint(), FINGERPRINT);
    assert_eq!(reader.name(), name);
    assert_eq!(reader.writer_pid(), Some(std::process::id()));

    let header = reader.header();
    assert_eq!(header.magic, MAGIC);
    assert_eq!(header.format_version, FORMAT_VERSION);
    assert_eq!(u64::from(header.header_size), HEADER_SIZE);
    assert_eq!(header.fingerprint, FINGERPRINT);
    assert_eq!(header.size, writer.size());
    assert_eq!(header.name, name);
    assert!(header.writer_attached());
    assert!(header.created_unix_ns > 1_600_000_000_000_000_000);

    let counter: &AtomicU64 = writer.object(HEADER_SIZE).unwrap();
    let seen: &AtomicU64 = reader.object(HEADER_SIZE).unwrap();
    assert_eq!(reader.generation(), 0);
    for generation in 1..=5 {
        counter.store(generation * 10, Ordering::Relaxed);
        assert_eq!(writer.bump_generation().unwrap(), generation);
        assert_eq!(reader.generation(), generation);
        assert_eq!(seen.load(Ordering::Relaxed), generation * 10);
    }

    assert!(matches!(
        reader.bump_generation(),
        Err(WorkspaceError::ReadOnly { .. })
    ));
    assert!(matches!(
        reader.write_copy(HEADER_SIZE, &1u64),
        Err(WorkspaceError::ReadOnly { .. })
    ));
    assert!(reader.bytes_mut().is_none());

    drop(writer);
    assert_eq!(reader.writer_pid(), None);
    assert!(!reader.header().writer_attached());
    assert_eq!(reader.generation(), 5, "the data outlives the writer");
}

// ---- 7. object access checks ---------------------------------------------------------------

#[test]
fn sizes_are_rounded_to_whole_pages() {
    let name = unique_name("round");
    let _guard = guard(&name);
    for (requested, total) in [(0, 4096), (1, 8192), (4096, 8192), (4097, 12288)] {
        let ws = create(&name, requested);
        assert_eq!(ws.size(), total, "requested {requested}");
        assert_eq!(fs::metadata(ws.path()).unwrap().len(), total);
        drop(ws);
        Workspace::remove(&name).unwrap();
    }
}

#[test]
fn object_access_is_bounds_and_alignment_checked() {
    let name = unique_name("bounds");
    let _guard = guard(&name);
    let mut ws = create(&name, 8192);
    let size = ws.size();
    assert_eq!(size, 12288);

    let out_of_bounds = |result: Result<&u64, WorkspaceError>| {
        matches!(result, Err(WorkspaceError::OutOfBounds { .. }))
    };
    assert!(out_of_bounds(ws.object::<u64>(0)), "inside the header");
    assert!(out_of_bounds(ws.object::<u64>(HEADER_SIZE - 8)));
    assert!(out_of_bounds(ws.object::<u64>(size - 4)));
    assert!(out_of_bounds(ws.object::<u64>(size)));
    assert!(out_of_bounds(ws.object::<u64>(u64::MAX - 3)), "overflow");
    assert!(ws.object::<u64>(HEADER_SIZE).is_ok());
    assert!(ws.object::<u64>(size - 8).is_ok());
    assert!(matches!(
        ws.object::<u64>(HEADER_SIZE + 1),
        Err(WorkspaceError::Misaligned {
            offset: 4097,
            align: 8
        })
    ));
    assert!(ws.object::<[u8; 64]>(HEADER_SIZE + 1).is_ok());
    assert!(ws.object::<[u8; 64]>(size - 63).is_err());

    assert_eq!(ws.slice::<u64>(HEADER_SIZE, 1024).unwrap().len(), 1024);
    assert!(matches!(
        ws.slice::<u64>(HEADER_SIZE, 1025),
        Err(WorkspaceError::OutOfBounds {
            offset: 4096,
            len: 8200,
            size: 12288
        })
    ));
    assert!(matches!(
        ws.slice::<u64>(HEADER_SIZE, usize::MAX),
        Err(WorkspaceError::OutOfBounds { len: u64::MAX, .. })
    ));
    assert!(ws.slice::<u64>(size, 0).unwrap().is_empty());
    assert!(ws.slice::<u32>(HEADER_SIZE + 2, 1).is_err());

    assert!(matches!(
        ws.read_volatile_copy::<u32>(HEADER_SIZE + 2),
        Err(WorkspaceError::Misaligned { align: 4, .. })
    ));
    assert!(matches!(
        ws.write_copy(size - 4, &0u64),
        Err(WorkspaceError::OutOfBounds { .. })
    ));
    ws.write_copy(size - 8, &7u64).unwrap();
    assert_eq!(ws.read_volatile_copy::<u64>(size - 8).unwrap(), 7);
    assert_eq!(*ws.object::<u64>(size - 8).unwrap(), 7);
    assert_eq!(ws.bytes_mut().unwrap().len() as u64, size - HEADER_SIZE);

    let err = ws.object::<u64>(0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "object of 8 bytes at offset 0 does not fit in the object area [4096, 12288) of the \
         workspace"
    );
}

// ---- 8. hugetlbfs ----------------------------------------------------------------------------

#[test]
fn hugetlb_backing_needs_a_hugetlbfs_mount() {
    let dir = TempDir::new("nothuge");
    let name = unique_name("huge");
    let backing = Backing::HugeTlb { dir: dir.0.clone() };
    let err = Workspace::create(&CreateOptions::new(&name, 0, FINGERPRINT).with_backing(backing))
        .unwrap_err();
    assert!(
        matches!(err, WorkspaceError::HugeTlbUnavailable { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    let shown = dir.0.display();
    assert!(
        message.starts_with(&format!("no hugetlbfs mounted at {shown} (")),
        "{message}"
    );
    assert!(
        message.ends_with(&format!(
            "; mount one with `mount -t hugetlbfs none {shown}` and reserve pages via \
             /proc/sys/vm/nr_hugepages"
        )),
        "{message}"
    );
    assert_eq!(fs::read_dir(&dir.0).unwrap().count(), 0, "nothing created");

    let missing = dir.0.join("missing");
    let err = Workspace::create(
        &CreateOptions::new(&name, 0, FINGERPRINT).with_backing(Backing::HugeTlb { dir: missing }),
    )
    .unwrap_err();
    assert!(
        matches!(err, WorkspaceError::HugeTlbUnavailable { .. }),
        "{err:?}"
    );
}

/// Runs only where a hugetlbfs mount with free pages is named by `NETBASE_TEST_HUGETLB_DIR`
/// (e.g. `mount -t hugetlbfs none /mnt/huge; echo 4 > /proc/sys/vm/nr_hugepages`).
#[test]
fn hugetlb_backing_works_on_a_real_mount() {
    let Some(dir) = std::env::var_os("NETBASE_TEST_HUGETLB_DIR") else {
        eprintln!("NETBASE_TEST_HUGETLB_DIR unset: not testing a real hugetlbfs mount");
        return;
    };
    let backing = Backing::HugeTlb { dir: dir.into() };
    let name = unique_name("hugeok");
    let _guard = RemoveGuard::new(&name, &backing).unwrap();
    let mut writer = Workspace::create(
        &CreateOptions::new(&name, 4096, FINGERPRINT).with_backing(backing.clone()),
    )
    .unwrap();
    assert_eq!(writer.size() % (2 << 20), 0);
    writer.write_copy(HEADER_SIZE, &99u64).unwrap();
    let reader = Workspace::join_with(
        &JoinOptions::new(&name, FINGERPRINT, Access::ReadOnly).with_backing(backing),
    )
    .unwrap();
    assert_eq!(reader.read_volatile_copy::<u64>(HEADER_SIZE).unwrap(), 99);
}
