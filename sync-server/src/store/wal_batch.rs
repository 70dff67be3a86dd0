//! A thin VFS over SQLite's default one, for the writer's connection only: the WAL frames of
//! a commit reach the kernel in a few large writes instead of two `pwrite`s per frame.
//!
//! Performance: SQLite writes each WAL frame as its 24-byte header and then its page, two
//! system calls, each of which walks the page cache of the file for the one or two pages it
//! touches. A group commit of the tablet rush writes over a thousand frames; profiles of
//! the writer thread showed `pwrite` at a sixth of its time, the copy itself a fifth of
//! that.
//!
//! How it stays correct: every other call on the WAL file (read, sync, truncate, size,
//! close, file control, lock, memory map) first hands the waiting bytes to the real file,
//! and a write that does not continue the waiting bytes does too, so the file sees the same
//! bytes written in the same order, only joined into pieces of up to 120 KiB. Readers in other connections only read frames
//! a commit made visible, and the writer makes a commit visible only after its call to sync the WAL
//! (`synchronous=FULL`, which the store always sets; with it every commit calls the sync),
//! and that call hands the bytes over first, also when it leaves the sync itself for later
//! (below). A failed hand-over is the error of the call that caused
//! it (the sync of a commit: the commit fails and is rolled back), as a failed `pwrite`
//! would have been. Every other file (the database, journals) is the default VFS's own.
//!
//! A commit may also leave its sync to another thread ([`defer_commit_sync`]): its frames
//! are handed over as above, so readers find them, but the disk is not waited for; the
//! writer's thread goes on with the next group while the store's syncer thread syncs the
//! file ([`take_deferred_sync`], `store::commit_sync`). Only the commit's own sync is left:
//! the writer's connection sets `checkpoint_fullfsync`, so a checkpoint's sync and the sync
//! of a restarted WAL's header ask for `SQLITE_SYNC_FULL` and always happen at once (the
//! header's is what keeps a restarted WAL from being read with stale frames after a crash,
//! and a checkpoint must not copy frames into the database file before they are on disk).

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::fs::File;
use std::sync::{Arc, OnceLock};

use rusqlite::Connection;

use rusqlite::ffi;

/// The name the writer's connection opens the database with.
pub const VFS_NAME: &str = "hub-wal-batch";

/// Bytes waiting at most before they are written (about a thousand frames).
const WAITING_AT_MOST: usize = 4 << 20;

/// Bytes handed to the default VFS in one write at most: its `xWrite` takes less than
/// 128 KiB (SQLite itself never writes more than a frame at a time).
const WRITE_AT_MOST: usize = 120 << 10;

/// The WAL file as SQLite sees it: our methods, then the default VFS's file at `REAL_AT`.
#[repr(C)]
struct WalFile {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    /// Bytes written but not yet handed to `real`, starting at file offset `start`.
    waiting: *mut Vec<u8>,
    start: i64,
    /// The commit sync the writer asked to leave ([`defer_commit_sync`]): `NOT_ASKED`,
    /// `ASKED`, or `LEFT` once a commit left it.
    defer: u8,
    /// The same file opened again, for the thread that makes a left sync (null if it could
    /// not be opened: then nothing is ever left).
    again: *mut Arc<File>,
    /// Syncs that reached the disk, for tests.
    syncs: u64,
}

const NOT_ASKED: u8 = 0;
const ASKED: u8 = 1;
const LEFT: u8 = 2;

/// Where the default VFS's file lives inside the allocation SQLite makes for ours.
const REAL_AT: usize = std::mem::size_of::<WalFile>().next_multiple_of(16);

/// Registers the VFS once per process (not as the default); its error otherwise.
pub fn register() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| unsafe { register_once() }).clone()
}

unsafe fn register_once() -> Result<(), String> {
    let real = ffi::sqlite3_vfs_find(std::ptr::null());
    if real.is_null() {
        return Err("SQLite has no default VFS".into());
    }
    let name = CString::new(VFS_NAME).map_err(|e| e.to_string())?;
    let mut vfs: ffi::sqlite3_vfs = *real;
    vfs.szOsFile = c_int::try_from(REAL_AT).map_err(|e| e.to_string())? + (*real).szOsFile;
    vfs.pNext = std::ptr::null_mut();
    // Both live as long as the process: SQLite keeps pointers to them.
    vfs.zName = name.into_raw();
    vfs.pAppData = real.cast();
    vfs.xOpen = Some(x_open);
    vfs.xDelete = Some(x_delete);
    vfs.xAccess = Some(x_access);
    vfs.xFullPathname = Some(x_full_pathname);
    let vfs = Box::into_raw(Box::new(vfs));
    match ffi::sqlite3_vfs_register(vfs, 0) {
        ffi::SQLITE_OK => Ok(()),
        rc => Err(format!("cannot register the {VFS_NAME} VFS: SQLite error {rc}")),
    }
}

unsafe fn real_vfs(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    (*vfs).pAppData.cast()
}

unsafe extern "C" fn x_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let real_vfs = real_vfs(vfs);
    let Some(open) = (*real_vfs).xOpen else { return ffi::SQLITE_ERROR };
    if flags & ffi::SQLITE_OPEN_WAL == 0 {
        // Not the WAL: the default VFS's file in place of ours, its methods and all.
        return open(real_vfs, name, file, flags, out_flags);
    }
    let wal = file.cast::<WalFile>();
    let real = file.cast::<u8>().add(REAL_AT).cast::<ffi::sqlite3_file>();
    let rc = open(real_vfs, name, real, flags, out_flags);
    if rc != ffi::SQLITE_OK {
        (*wal).base.pMethods = std::ptr::null();
        return rc;
    }
    (*wal).real = real;
    (*wal).waiting = Box::into_raw(Box::new(Vec::new()));
    (*wal).start = 0;
    (*wal).defer = NOT_ASKED;
    (*wal).syncs = 0;
    // The path SQLite just opened, opened again: the same file for as long as SQLite keeps
    // it open (a WAL is only deleted after its last connection closed it).
    let again = (!name.is_null())
        .then(|| CStr::from_ptr(name).to_str().ok())
        .flatten()
        .and_then(|p| File::open(p).ok());
    (*wal).again = again.map_or(std::ptr::null_mut(), |f| Box::into_raw(Box::new(Arc::new(f))));
    (*wal).base.pMethods = &WAL_METHODS;
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_delete(vfs: *mut ffi::sqlite3_vfs, name: *const c_char, sync_dir: c_int) -> c_int {
    let real = real_vfs(vfs);
    (*real).xDelete.map_or(ffi::SQLITE_ERROR, |f| f(real, name, sync_dir))
}

unsafe extern "C" fn x_access(vfs: *mut ffi::sqlite3_vfs, name: *const c_char, flags: c_int, out: *mut c_int) -> c_int {
    let real = real_vfs(vfs);
    (*real).xAccess.map_or(ffi::SQLITE_ERROR, |f| f(real, name, flags, out))
}

unsafe extern "C" fn x_full_pathname(vfs: *mut ffi::sqlite3_vfs, name: *const c_char, n: c_int, out: *mut c_char) -> c_int {
    let real = real_vfs(vfs);
    (*real).xFullPathname.map_or(ffi::SQLITE_ERROR, |f| f(real, name, n, out))
}

static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(wal_close),
    xRead: Some(wal_read),
    xWrite: Some(wal_write),
    xTruncate: Some(wal_truncate),
    xSync: Some(wal_sync),
    xFileSize: Some(wal_file_size),
    xLock: Some(wal_lock),
    xUnlock: Some(wal_unlock),
    xCheckReservedLock: Some(wal_check_reserved_lock),
    xFileControl: Some(wal_file_control),
    xSectorSize: Some(wal_sector_size),
    xDeviceCharacteristics: Some(wal_device_characteristics),
    xShmMap: Some(wal_shm_map),
    xShmLock: Some(wal_shm_lock),
    xShmBarrier: Some(wal_shm_barrier),
    xShmUnmap: Some(wal_shm_unmap),
    xFetch: Some(wal_fetch),
    xUnfetch: Some(wal_unfetch),
};

/// The default VFS's file and methods behind `file`.
unsafe fn real(file: *mut ffi::sqlite3_file) -> (*mut ffi::sqlite3_file, &'static ffi::sqlite3_io_methods) {
    let real = (*file.cast::<WalFile>()).real;
    (real, &*(*real).pMethods)
}

/// Hands the waiting bytes to the real file.
unsafe fn hand_over(file: *mut ffi::sqlite3_file) -> c_int {
    let wal = file.cast::<WalFile>();
    let waiting = &mut *(*wal).waiting;
    let (real, m) = real(file);
    let Some(write) = m.xWrite else { return ffi::SQLITE_IOERR_WRITE };
    let mut rc = ffi::SQLITE_OK;
    let mut offset = (*wal).start;
    for chunk in waiting.chunks(WRITE_AT_MOST) {
        // At most WRITE_AT_MOST, so the length fits.
        rc = write(real, chunk.as_ptr().cast(), chunk.len() as c_int, offset);
        if rc != ffi::SQLITE_OK {
            break;
        }
        offset += chunk.len() as i64;
    }
    waiting.clear();
    rc
}

unsafe extern "C" fn wal_write(file: *mut ffi::sqlite3_file, data: *const c_void, amt: c_int, offset: i64) -> c_int {
    let wal = file.cast::<WalFile>();
    let Ok(len) = usize::try_from(amt) else { return ffi::SQLITE_IOERR_WRITE };
    let bytes = std::slice::from_raw_parts(data.cast::<u8>(), len);
    let waiting = &mut *(*wal).waiting;
    let continues = !waiting.is_empty() && offset == (*wal).start + waiting.len() as i64;
    if continues && waiting.len() + len <= WAITING_AT_MOST {
        waiting.extend_from_slice(bytes);
        return ffi::SQLITE_OK;
    }
    let rc = hand_over(file);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    if len >= WRITE_AT_MOST {
        let (real, m) = real(file);
        return m.xWrite.map_or(ffi::SQLITE_IOERR_WRITE, |w| w(real, data, amt, offset));
    }
    (*wal).start = offset;
    (*(*wal).waiting).extend_from_slice(bytes);
    ffi::SQLITE_OK
}

unsafe extern "C" fn wal_close(file: *mut ffi::sqlite3_file) -> c_int {
    let wal = file.cast::<WalFile>();
    let mut handed = hand_over(file);
    let (real, m) = real(file);
    if handed == ffi::SQLITE_OK && (*wal).defer == LEFT {
        // Never closed with a left sync not yet taken (the writer takes it right after its
        // commit; this is only a safety net).
        handed = m.xSync.map_or(ffi::SQLITE_IOERR_FSYNC, |f| f(real, ffi::SQLITE_SYNC_NORMAL));
    }
    let closed = m.xClose.map_or(ffi::SQLITE_OK, |c| c(real));
    drop(Box::from_raw((*wal).waiting));
    (*wal).waiting = std::ptr::null_mut();
    if !(*wal).again.is_null() {
        drop(Box::from_raw((*wal).again));
        (*wal).again = std::ptr::null_mut();
    }
    if handed != ffi::SQLITE_OK {
        handed
    } else {
        closed
    }
}

/// Forwards a call to the real file after handing the waiting bytes over.
macro_rules! after_hand_over {
    ($name:ident, $method:ident ( $($arg:ident : $ty:ty),* ), $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            let rc = hand_over(file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            let (real, m) = real(file);
            m.$method.map_or($missing, |f| f(real $(, $arg)*))
        }
    };
}

/// Forwards a call that does not touch the file's bytes.
macro_rules! forward {
    ($name:ident, $method:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty, $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> $ret {
            let (real, m) = real(file);
            m.$method.map_or($missing, |f| f(real $(, $arg)*))
        }
    };
}

after_hand_over!(wal_read, xRead(data: *mut c_void, amt: c_int, offset: i64), ffi::SQLITE_IOERR_READ);
after_hand_over!(wal_truncate, xTruncate(size: i64), ffi::SQLITE_IOERR_TRUNCATE);
after_hand_over!(wal_file_size, xFileSize(size: *mut i64), ffi::SQLITE_IOERR_FSTAT);
after_hand_over!(wal_lock, xLock(level: c_int), ffi::SQLITE_IOERR_LOCK);
after_hand_over!(wal_unlock, xUnlock(level: c_int), ffi::SQLITE_IOERR_UNLOCK);
after_hand_over!(wal_file_control, xFileControl(op: c_int, arg: *mut c_void), ffi::SQLITE_NOTFOUND);
after_hand_over!(wal_fetch, xFetch(offset: i64, amt: c_int, out: *mut *mut c_void), ffi::SQLITE_IOERR);
forward!(wal_check_reserved_lock, xCheckReservedLock(out: *mut c_int) -> c_int, ffi::SQLITE_IOERR_CHECKRESERVEDLOCK);
forward!(wal_sector_size, xSectorSize() -> c_int, 4096);
forward!(wal_device_characteristics, xDeviceCharacteristics() -> c_int, 0);
forward!(wal_shm_map, xShmMap(page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void) -> c_int, ffi::SQLITE_IOERR_SHMMAP);
forward!(wal_shm_lock, xShmLock(offset: c_int, n: c_int, flags: c_int) -> c_int, ffi::SQLITE_IOERR_SHMLOCK);
forward!(wal_shm_unmap, xShmUnmap(delete: c_int) -> c_int, ffi::SQLITE_OK);
forward!(wal_unfetch, xUnfetch(offset: i64, page: *mut c_void) -> c_int, ffi::SQLITE_OK);

/// Hands the waiting bytes over, then syncs, unless this is the commit's own sync
/// (`SQLITE_SYNC_NORMAL`; checkpoints and WAL headers ask for `SQLITE_SYNC_FULL`) and the
/// writer asked to leave it.
unsafe extern "C" fn wal_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    let rc = hand_over(file);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    let wal = file.cast::<WalFile>();
    if (*wal).defer != NOT_ASKED && flags & 0x0f == ffi::SQLITE_SYNC_NORMAL && !(*wal).again.is_null() {
        (*wal).defer = LEFT;
        return ffi::SQLITE_OK;
    }
    let (real, m) = real(file);
    let rc = m.xSync.map_or(ffi::SQLITE_IOERR_FSYNC, |f| f(real, flags));
    if rc == ffi::SQLITE_OK {
        (*wal).syncs += 1;
    }
    rc
}

/// What the writer's connection on this VFS needs: every commit calls the sync
/// (`synchronous=FULL`), and the syncs of checkpoints and WAL headers ask for
/// `SQLITE_SYNC_FULL` (`checkpoint_fullfsync`; the same `fsync` on Linux), which tells them
/// from a commit's, the only one [`defer_commit_sync`] may leave.
pub fn set_up_writer(conn: &Connection) -> Result<(), String> {
    let read = |pragma: &str| conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get::<_, i64>(0));
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA checkpoint_fullfsync=ON;")
        .and_then(|_| Ok((read("synchronous")?, read("checkpoint_fullfsync")?)))
        .map_err(|e| e.to_string())
        .and_then(|kept| match kept {
            (2, 1) => Ok(()),
            (s, c) => Err(format!("the writer's connection kept synchronous={s}, checkpoint_fullfsync={c}")),
        })
}

/// `conn`'s WAL file if it is open and one of ours.
unsafe fn wal_of(conn: &Connection) -> Option<*mut WalFile> {
    let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
    let rc = ffi::sqlite3_file_control(
        conn.handle(),
        c"main".as_ptr(),
        ffi::SQLITE_FCNTL_JOURNAL_POINTER,
        (&mut file as *mut *mut ffi::sqlite3_file).cast(),
    );
    if rc != ffi::SQLITE_OK || file.is_null() || !std::ptr::eq((*file).pMethods, &WAL_METHODS) {
        return None;
    }
    Some(file.cast())
}

/// Asks that `conn`'s next commit hand its WAL frames to the kernel without waiting for
/// the disk, leaving the sync to [`take_deferred_sync`]'s caller. `conn` must have been
/// opened with this VFS and set up by [`set_up_writer`]. False if it cannot be done (no WAL
/// of ours open, or it could not be opened a second time): then the commit syncs as always.
pub fn defer_commit_sync(conn: &Connection) -> bool {
    // Safety: the pointer is SQLite's live WAL file of `conn`, used on `conn`'s thread.
    unsafe {
        match wal_of(conn) {
            Some(wal) if !(*wal).again.is_null() => {
                (*wal).defer = ASKED;
                true
            }
            _ => false,
        }
    }
}

/// After the commit [`defer_commit_sync`] asked for (committed or not): the WAL file to
/// sync before the commit may be acknowledged, if the commit left its sync; the asking is
/// undone either way.
pub fn take_deferred_sync(conn: &Connection) -> Option<Arc<File>> {
    // Safety: as in `defer_commit_sync`.
    unsafe {
        let wal = wal_of(conn)?;
        let left = std::mem::replace(&mut (*wal).defer, NOT_ASKED) == LEFT;
        (left && !(*wal).again.is_null()).then(|| (*(*wal).again).clone())
    }
}

/// Syncs of `conn`'s WAL file that reached the disk so far, if it is one of ours.
#[cfg(test)]
pub fn wal_syncs(conn: &Connection) -> Option<u64> {
    // Safety: as in `defer_commit_sync`.
    unsafe { wal_of(conn).map(|wal| (*wal).syncs) }
}

unsafe extern "C" fn wal_shm_barrier(file: *mut ffi::sqlite3_file) {
    let (real, m) = real(file);
    if let Some(f) = m.xShmBarrier {
        f(real);
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::{params, Connection, OpenFlags};

    use super::*;

    struct Db {
        dir: std::path::PathBuf,
        path: std::path::PathBuf,
    }

    impl Db {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!("hub-wal-batch-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("t.db");
            Db { dir, path }
        }

        /// A writer as the store opens it, with a page cache small enough that a large
        /// transaction spills pages into the WAL before its commit, and the table `t`.
        fn writer(&self) -> Connection {
            register().unwrap();
            let conn = Connection::open_with_flags_and_vfs(&self.path, OpenFlags::default(), VFS_NAME).unwrap();
            let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).unwrap();
            assert_eq!(mode, "wal");
            set_up_writer(&conn).unwrap();
            conn.execute_batch("PRAGMA cache_size = 10;").unwrap();
            conn.execute_batch("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)").unwrap();
            conn
        }

        /// A plain read-only connection, as the store's readers open theirs.
        fn reader(&self) -> Connection {
            Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
        }
    }

    impl Drop for Db {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn insert_round(w: &Connection, round: i64) {
        for i in 0..500_i64 {
            // Keys spread over the table, values of a few hundred bytes: many pages a round.
            let key = ((round * 500 + i) * 7919) % 10_000;
            w.execute("INSERT INTO t (k, v) VALUES (?1, ?2)", params![key, format!("{round}:{i}:{}", "x".repeat(300))])
                .unwrap();
        }
    }

    #[test]
    fn every_commit_through_the_batching_vfs_is_read_at_once_by_a_plain_connection_and_survives_reopening() {
        let db = Db::new();
        let w = db.writer();
        let r = db.reader();
        for round in 0..20_i64 {
            w.execute_batch("BEGIN IMMEDIATE").unwrap();
            insert_round(&w, round);
            // The transaction reads back what it spilled into the WAL.
            let mine: i64 = w.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
            assert_eq!(mine, (round + 1) * 500);
            w.execute_batch("COMMIT").unwrap();
            let seen: i64 = r.query_row("SELECT count(*) FROM t WHERE v LIKE ?1", [format!("{round}:%")], |r| r.get(0)).unwrap();
            assert_eq!(seen, 500, "round {round}");
        }
        drop((w, r));
        let again = Connection::open(&db.path).unwrap();
        let ok: String = again.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
        let n: i64 = again.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 10_000);
    }

    #[test]
    fn a_rolled_back_transaction_that_spilled_into_the_wal_leaves_nothing() {
        let db = Db::new();
        let w = db.writer();
        w.execute_batch("BEGIN IMMEDIATE").unwrap();
        insert_round(&w, 0);
        w.execute_batch("COMMIT").unwrap();
        w.execute_batch("BEGIN IMMEDIATE").unwrap();
        insert_round(&w, 1);
        w.execute_batch("ROLLBACK").unwrap();
        // And a checkpoint copies the committed frames back into the database file.
        w.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        insert_round(&w, 2);
        drop(w);
        let again = Connection::open(&db.path).unwrap();
        let ok: String = again.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
        let rounds: Vec<String> = again
            .prepare("SELECT DISTINCT substr(v, 1, 1) FROM t ORDER BY 1")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rounds, ["0", "2"]);
    }

    fn count(c: &Connection, round: i64) -> i64 {
        c.query_row("SELECT count(*) FROM t WHERE v LIKE ?1", [format!("{round}:%")], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_commit_asked_to_leave_its_sync_hands_its_frames_over_unsynced_while_checkpoints_still_sync() {
        let db = Db::new();
        let w = db.writer();
        let r = db.reader();
        let before = wal_syncs(&w).expect("the writer's WAL is one of ours");

        assert!(defer_commit_sync(&w));
        w.execute_batch("BEGIN IMMEDIATE").unwrap();
        insert_round(&w, 0);
        w.execute_batch("COMMIT").unwrap();
        let left = take_deferred_sync(&w).expect("the commit left its sync");
        assert_eq!(wal_syncs(&w), Some(before), "and did not make it");
        assert_eq!(count(&r, 0), 500, "its frames are in the file for readers");
        left.sync_all().unwrap();

        // Not asked, a commit syncs itself.
        w.execute_batch("BEGIN IMMEDIATE").unwrap();
        insert_round(&w, 1);
        w.execute_batch("COMMIT").unwrap();
        assert_eq!(wal_syncs(&w), Some(before + 1));
        assert!(take_deferred_sync(&w).is_none());
        assert_eq!(count(&r, 1), 500);

        // Asked, a checkpoint's sync is made at once: it must not copy frames into the
        // database file before they are on disk.
        assert!(defer_commit_sync(&w));
        w.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).unwrap();
        assert_eq!(wal_syncs(&w), Some(before + 2));
        assert!(take_deferred_sync(&w).is_none());
    }

    #[test]
    fn a_restarted_wal_syncs_its_header_at_once_when_the_commit_leaves_its_own_sync() {
        let db = Db::new();
        let w = db.writer();
        insert_round(&w, 0);
        // Everything copied back: the next commit writes the WAL from its start, new header
        // first.
        w.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(())).unwrap();
        let before = wal_syncs(&w).unwrap();
        assert!(defer_commit_sync(&w));
        w.execute_batch("BEGIN IMMEDIATE").unwrap();
        insert_round(&w, 1);
        w.execute_batch("COMMIT").unwrap();
        assert_eq!(wal_syncs(&w), Some(before + 1), "the header's sync was made");
        take_deferred_sync(&w).expect("the commit's was left").sync_all().unwrap();
        drop(w);
        let again = Connection::open(&db.path).unwrap();
        assert_eq!(again.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)).unwrap(), 1000);
    }
}
