//! A connection that waits for PostgreSQL notifications without blocking a thread: libpq
//! itself (the same library, built into Herald, that diesel uses), driven through its
//! non-blocking calls while tokio watches the socket. Being libpq, it reads `DATABASE_URL`
//! exactly as every other connection does: every `sslmode` (`require`, `verify-ca`,
//! `verify-full`), `sslrootcert`, client certificates, `passfile`, services, several hosts.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, RawFd};
use std::ptr;

use pq_sys::{
    ConnStatusType, ExecStatusType, PGconn, PQclear, PQconnectPoll, PQconnectStartParams,
    PQconsumeInput, PQerrorMessage, PQfinish, PQflush, PQfreemem, PQgetResult, PQisBusy,
    PQnotifies, PQresultErrorMessage, PQresultStatus, PQsendQuery, PQsetnonblocking, PQsocket,
    PQstatus, PostgresPollingStatusType,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// An open connection; closed when dropped.
pub struct NotificationConnection {
    conn: Connection,
}

/// The libpq handle. libpq connections may move between threads; only one uses it at a time
/// (`&mut self` everywhere).
struct Connection(*mut PGconn);

// SAFETY: a PGconn is not tied to the thread that made it; every use goes through `&mut`.
unsafe impl Send for Connection {}

impl Drop for Connection {
    fn drop(&mut self) {
        // SAFETY: the handle came from PQconnectStartParams and is finished once, here.
        unsafe { PQfinish(self.0) }
    }
}

/// The socket libpq owns, watched by tokio (never closed here).
struct Socket(RawFd);

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

impl NotificationConnection {
    /// Connects to `url` (any libpq connection string) as `application_name`.
    pub async fn connect(url: &str, application_name: &str) -> Result<Self, String> {
        let keywords = [c"dbname", c"application_name"];
        let url = CString::new(url).map_err(|_| "the database URL contains a NUL byte")?;
        let name = CString::new(application_name).map_err(|_| "NUL in application_name")?;
        // libpq resolves host names while starting: off the async threads.
        let conn = tokio::task::spawn_blocking(move || {
            let keyword_pointers = [keywords[0].as_ptr(), keywords[1].as_ptr(), ptr::null()];
            let values = [url.as_ptr(), name.as_ptr(), ptr::null()];
            // SAFETY: both arrays end in NULL and their strings outlive the call;
            // expand_dbname = 1 reads `dbname` as a whole connection string, and the later
            // application_name overrides one it might name.
            Connection(unsafe {
                PQconnectStartParams(keyword_pointers.as_ptr(), values.as_ptr(), 1)
            })
        })
        .await
        .map_err(|err| err.to_string())?;
        if conn.0.is_null() {
            return Err("libpq could not allocate a connection".into());
        }
        let mut this = Self { conn };
        this.finish_connecting().await?;
        // SAFETY: a live connection handle.
        if unsafe { PQsetnonblocking(this.conn.0, 1) } != 0 {
            return Err(this.error());
        }
        Ok(this)
    }

    /// Drives PQconnectPoll, waiting for the socket as libpq asks (the socket may change
    /// between steps: another host, or a retry without TLS).
    async fn finish_connecting(&mut self) -> Result<(), String> {
        // SAFETY: a live connection handle.
        if unsafe { PQstatus(self.conn.0) } == ConnStatusType::CONNECTION_BAD {
            return Err(self.error());
        }
        let mut wanted = Interest::WRITABLE;
        loop {
            self.wait_for(wanted).await?;
            // SAFETY: a live connection handle.
            match unsafe { PQconnectPoll(self.conn.0) } {
                PostgresPollingStatusType::PGRES_POLLING_OK => return Ok(()),
                PostgresPollingStatusType::PGRES_POLLING_READING => wanted = Interest::READABLE,
                PostgresPollingStatusType::PGRES_POLLING_WRITING => wanted = Interest::WRITABLE,
                _ => return Err(self.error()),
            }
        }
    }

    /// Runs `sql` (one or more statements without results worth reading).
    pub async fn execute(&mut self, sql: &str) -> Result<(), String> {
        let sql = CString::new(sql).map_err(|_| "NUL byte in a statement")?;
        // SAFETY: a live connection handle and a NUL-terminated statement.
        if unsafe { PQsendQuery(self.conn.0, sql.as_ptr()) } == 0 {
            return Err(self.error());
        }
        // In non-blocking mode the statement may not have left in one go.
        loop {
            // SAFETY: a live connection handle.
            match unsafe { PQflush(self.conn.0) } {
                0 => break,
                1 => self.wait_for(Interest::WRITABLE).await?,
                _ => return Err(self.error()),
            }
        }
        let mut failure = None;
        loop {
            // SAFETY: a live connection handle.
            while unsafe { PQisBusy(self.conn.0) } == 1 {
                self.read().await?;
            }
            // SAFETY: a live connection handle; every result returned is cleared.
            let result = unsafe { PQgetResult(self.conn.0) };
            if result.is_null() {
                return failure.map_or(Ok(()), Err);
            }
            // SAFETY: a result PQgetResult just returned, cleared right after.
            unsafe {
                let status = PQresultStatus(result);
                if failure.is_none()
                    && !matches!(
                        status,
                        ExecStatusType::PGRES_COMMAND_OK | ExecStatusType::PGRES_TUPLES_OK
                    )
                {
                    failure = Some(text(PQresultErrorMessage(result)));
                }
                PQclear(result);
            }
        }
    }

    /// Waits for the next notification; its payload. An error means the connection is lost.
    pub async fn next_payload(&mut self) -> Result<String, String> {
        loop {
            // SAFETY: a live connection handle; the notification is freed right after.
            let note = unsafe { PQnotifies(self.conn.0) };
            if !note.is_null() {
                // SAFETY: a notification PQnotifies returned, with its NUL-terminated payload.
                let payload = unsafe { text((*note).extra) };
                // SAFETY: freed once, as libpq asks.
                unsafe { PQfreemem(note.cast()) };
                return Ok(payload);
            }
            self.read().await?;
        }
    }

    /// Waits until the socket has data, then hands it to libpq.
    async fn read(&mut self) -> Result<(), String> {
        self.wait_for(Interest::READABLE).await?;
        // SAFETY: a live connection handle.
        if unsafe { PQconsumeInput(self.conn.0) } == 0 {
            return Err(self.error());
        }
        Ok(())
    }

    /// Waits until libpq's socket is ready for `interest`. Data already waiting counts: the
    /// socket is registered afresh each time, and tokio reports what is ready at once.
    async fn wait_for(&mut self, interest: Interest) -> Result<(), String> {
        // SAFETY: a live connection handle.
        let fd = unsafe { PQsocket(self.conn.0) };
        if fd < 0 {
            return Err(self.error());
        }
        // SAFETY: libpq keeps the socket open while it is watched: no libpq call runs on
        // this connection (borrowed mutably here) until the watch is dropped below.
        let watched = unsafe { AsyncFd::register_with_interest(Socket(fd), interest) }
            .map_err(|err| err.to_string())?;
        // The guard only says the socket is ready; libpq does the reading and writing.
        let _ready = watched
            .ready(interest)
            .await
            .map_err(|err| err.to_string())?;
        Ok(())
    }

    /// libpq's message for the connection's last failure, on one line.
    fn error(&self) -> String {
        // SAFETY: a live connection handle; the message is copied before the next call.
        let message = unsafe { text(PQerrorMessage(self.conn.0)) };
        let message = crate::db::one_line(message.trim());
        if message.is_empty() {
            "the connection failed".into()
        } else {
            message
        }
    }
}

/// A C string libpq owns, copied.
///
/// # Safety
/// `pointer` is null or a NUL-terminated string valid for the call.
unsafe fn text(pointer: *const std::os::raw::c_char) -> String {
    if pointer.is_null() {
        return String::new();
    }
    // SAFETY: the caller promises a NUL-terminated string.
    unsafe { CStr::from_ptr(pointer) }
        .to_string_lossy()
        .into_owned()
}
