// The part of WASI preview 1 that wgml's C core uses (wasi-libc's stdio over
// file descriptors), over a read-only in-memory file table: model files
// arrive as Blobs (from the Cache API, a File input or fetch) or byte arrays.
// Reading a Blob is asynchronous, so fd_read and fd_pread are JS Promise
// Integration imports (WebAssembly.Suspending): the C caller waits while a
// slice of the Blob is read; a large file is never copied whole into memory.
//
// Paths: one preopened directory "/" (fd 3); files are named by their path
// below it ("models/minilm/config.json"). Anything that writes to a file
// fails with EROFS; stdout and stderr go to the console.

const ERRNO = {SUCCESS: 0, ACCES: 2, BADF: 8, INVAL: 28, IO: 29, ISDIR: 31, NOENT: 44, NOSYS: 52,
               NOTDIR: 54, ROFS: 69, SPIPE: 70};
const FILETYPE = {CHARACTER_DEVICE: 2, DIRECTORY: 3, REGULAR_FILE: 4};
const OFLAGS = {CREAT: 1, DIRECTORY: 2, EXCL: 4, TRUNC: 8};
const PREOPEN_FD = 3;
const ALL_RIGHTS = 0xffffffffffffffffn;
const READ_WINDOW = 4 << 20;

export class WasiFiles {
  constructor({onRead} = {}) {
    this.files = new Map();   // path -> {size, blob?, bytes?}
    this.fds = new Map();     // fd -> {file, pos, path} or {dir: path}
    this.nextFd = PREOPEN_FD + 1;
    this.memory = null;       // set once the instance exists
    this.onRead = onRead;     // (path, bytes) after every read, for progress
    this.lineBuf = {1: '', 2: ''};
    this.stats = {reads: 0, readBytes: 0, asyncReads: 0, asyncReadMs: 0};
  }

  // Adds or replaces a file: a Blob (File) or bytes (ArrayBuffer, typed array).
  put(path, data) {
    path = normalize(path);
    if (data instanceof Blob) this.files.set(path, {size: data.size, blob: data});
    else {
      const bytes = data instanceof Uint8Array ? data
        : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
        : new Uint8Array(data);
      this.files.set(path, {size: bytes.byteLength, bytes});
    }
  }

  // Removes every file under a directory (or one file).
  remove(prefix) {
    prefix = normalize(prefix);
    for (const [fd, d] of this.fds) if (d.path === prefix || d.path?.startsWith(prefix + '/')) this.fds.delete(fd);
    for (const k of [...this.files.keys()])
      if (k === prefix || k.startsWith(prefix + '/')) this.files.delete(k);
  }

  isDir(path) {
    const p = normalize(path);
    if (p === '') return true;
    for (const k of this.files.keys()) if (k.startsWith(p + '/')) return true;
    return false;
  }

  // The import object's wasi_snapshot_preview1 module.
  imports() {
    const self = this;
    const view = () => new DataView(self.memory.buffer);
    const bytes = () => new Uint8Array(self.memory.buffer);
    const str = (ptr, len) => new TextDecoder().decode(bytes().subarray(ptr, ptr + len));
    // Copies src into the iovecs; returns the count copied.
    const scatter = (iovs, n, src) => {
      const dv = view(), mem = bytes();
      let done = 0;
      for (let i = 0; i < n && done < src.length; i++) {
        const p = dv.getUint32(iovs + 8 * i, true), len = dv.getUint32(iovs + 8 * i + 4, true);
        const k = Math.min(len, src.length - done);
        mem.set(src.subarray(done, done + k), p);
        done += k;
      }
      return done;
    };
    const iovLength = (iovs, n) => {
      const dv = view();
      let total = 0;
      for (let i = 0; i < n; i++) total += dv.getUint32(iovs + 8 * i + 4, true);
      return total;
    };
    // Reads up to want bytes of f at pos: bytes directly, a Blob through a
    // promise. A Blob is read a window at a time (READ_WINDOW bytes or more)
    // and the window kept, so the many small reads of a loader cost one
    // asynchronous read per window, and memory holds one window per file.
    const readAt = (f, pos, want) => {
      const end = Math.min(f.size, pos + want);
      if (end <= pos) return new Uint8Array(0);
      if (f.bytes) return f.bytes.subarray(pos, end);
      const w = f.window;
      if (w && pos >= w.start && end <= w.start + w.bytes.length)
        return w.bytes.subarray(pos - w.start, end - w.start);
      const wend = Math.min(f.size, Math.max(end, pos + READ_WINDOW));
      return f.blob.slice(pos, wend).arrayBuffer().then((b) => {
        f.window = {start: pos, bytes: new Uint8Array(b)};
        return f.window.bytes.subarray(0, end - pos);
      });
    };
    const finishRead = (fd, d, iovs, n, nread, data, advance) => {
      const got = scatter(iovs, n, data);
      if (advance) d.pos += got;
      view().setUint32(nread, got, true);
      if (self.onRead) self.onRead(d.path, got);
      return ERRNO.SUCCESS;
    };
    const read = (fd, iovs, n, nread, offset) => {
      const d = self.fds.get(fd);
      if (!d || !d.file) return fd === 0 ? (view().setUint32(nread, 0, true), 0) : ERRNO.BADF;
      const pos = offset === undefined ? d.pos : Number(offset);
      const data = readAt(d.file, pos, iovLength(iovs, n));
      self.stats.reads++;
      if (data instanceof Uint8Array) {
        self.stats.readBytes += data.length;
        return finishRead(fd, d, iovs, n, nread, data, offset === undefined);
      }
      const t0 = performance.now();
      return data.then((b) => {
        self.stats.asyncReads++;
        self.stats.asyncReadMs += performance.now() - t0;
        self.stats.readBytes += b.length;
        return finishRead(fd, d, iovs, n, nread, b, offset === undefined);
      }, () => ERRNO.IO);
    };
    const suspending = (f) => new WebAssembly.Suspending(f);
    return {
      args_get: () => 0,
      args_sizes_get: (argc, size) => { view().setUint32(argc, 0, true); view().setUint32(size, 0, true); return 0; },
      environ_get: () => 0,
      environ_sizes_get: (count, size) => { view().setUint32(count, 0, true); view().setUint32(size, 0, true); return 0; },
      clock_time_get: (id, precision, out) => {
        view().setBigUint64(out, BigInt(Math.round(performance.now() * 1e6)), true);
        return 0;
      },
      random_get: (buf, len) => { crypto.getRandomValues(bytes().subarray(buf, buf + len)); return 0; },
      proc_exit: (code) => { throw new Error(`wgml called exit(${code})`); },
      fd_prestat_get: (fd, out) => {
        if (fd !== PREOPEN_FD) return ERRNO.BADF;
        view().setUint8(out, 0);            // a directory
        view().setUint32(out + 4, 1, true); // the name "/"
        return 0;
      },
      fd_prestat_dir_name: (fd, path, len) => {
        if (fd !== PREOPEN_FD) return ERRNO.BADF;
        if (len >= 1) bytes()[path] = 0x2f;
        return 0;
      },
      fd_fdstat_get: (fd, out) => {
        const dv = view();
        let type;
        if (fd <= 2) type = FILETYPE.CHARACTER_DEVICE;
        else if (fd === PREOPEN_FD) type = FILETYPE.DIRECTORY;
        else if (self.fds.has(fd)) type = self.fds.get(fd).file ? FILETYPE.REGULAR_FILE : FILETYPE.DIRECTORY;
        else return ERRNO.BADF;
        dv.setUint8(out, type);
        dv.setUint16(out + 2, 0, true);
        dv.setBigUint64(out + 8, ALL_RIGHTS, true);
        dv.setBigUint64(out + 16, ALL_RIGHTS, true);
        return 0;
      },
      fd_fdstat_set_flags: () => 0,
      fd_filestat_get: (fd, out) => {
        const d = self.fds.get(fd);
        const dv = view();
        for (let i = 0; i < 64; i += 8) dv.setBigUint64(out + i, 0n, true);
        if (fd <= 2) dv.setUint8(out + 16, FILETYPE.CHARACTER_DEVICE);
        else if (fd === PREOPEN_FD || (d && !d.file)) dv.setUint8(out + 16, FILETYPE.DIRECTORY);
        else if (d) {
          dv.setUint8(out + 16, FILETYPE.REGULAR_FILE);
          dv.setBigUint64(out + 24, 1n, true);
          dv.setBigUint64(out + 32, BigInt(d.file.size), true);
        } else return ERRNO.BADF;
        return 0;
      },
      path_open: (dirfd, dirflags, path, pathLen, oflags, rightsBase, rightsInh, fdflags, fdOut) => {
        if (dirfd !== PREOPEN_FD) return ERRNO.BADF;
        if (oflags & (OFLAGS.CREAT | OFLAGS.TRUNC | OFLAGS.EXCL)) return ERRNO.ROFS;
        const p = normalize(str(path, pathLen));
        const f = self.files.get(p);
        let entry;
        if (f) {
          if (oflags & OFLAGS.DIRECTORY) return ERRNO.NOTDIR;
          entry = {file: f, pos: 0, path: p};
        } else if (self.isDir(p)) {
          entry = {dir: p};
        } else return ERRNO.NOENT;
        const fd = self.nextFd++;
        self.fds.set(fd, entry);
        view().setUint32(fdOut, fd, true);
        return 0;
      },
      path_create_directory: () => ERRNO.ROFS,
      path_filestat_get: () => ERRNO.NOSYS,
      fd_close: (fd) => (self.fds.delete(fd) || fd <= PREOPEN_FD ? 0 : ERRNO.BADF),
      fd_seek: (fd, offset, whence, out) => {
        const d = self.fds.get(fd);
        if (!d) return fd <= 2 ? ERRNO.SPIPE : ERRNO.BADF;
        if (!d.file) return ERRNO.ISDIR;
        const base = whence === 0 ? 0 : whence === 1 ? d.pos : d.file.size;
        const pos = base + Number(offset);
        if (pos < 0) return ERRNO.INVAL;
        d.pos = pos;
        view().setBigUint64(out, BigInt(pos), true);
        return 0;
      },
      fd_read: suspending((fd, iovs, n, nread) => read(fd, iovs, n, nread)),
      fd_pread: suspending((fd, iovs, n, offset, nread) => read(fd, iovs, n, nread, offset)),
      fd_write: (fd, iovs, n, nwritten) => {
        if (fd !== 1 && fd !== 2) return self.fds.has(fd) ? ERRNO.ROFS : ERRNO.BADF;
        const dv = view(), mem = bytes();
        let total = 0, text = '';
        for (let i = 0; i < n; i++) {
          const p = dv.getUint32(iovs + 8 * i, true), len = dv.getUint32(iovs + 8 * i + 4, true);
          text += new TextDecoder().decode(mem.subarray(p, p + len));
          total += len;
        }
        const lines = (self.lineBuf[fd] + text).split('\n');
        self.lineBuf[fd] = lines.pop();
        for (const line of lines) (fd === 1 ? console.log : console.warn)(`[wgml] ${line}`);
        dv.setUint32(nwritten, total, true);
        return 0;
      },
    };
  }
}

function normalize(path) {
  const out = [];
  for (const part of String(path).split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out.join('/');
}
