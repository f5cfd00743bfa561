#!/usr/bin/env python3
"""A slow mount for measuring the SS-MIX2 source: a passthrough FUSE file system that
waits LAT_MS milliseconds before each read-side request (getattr, opendir, readdir, open,
read), as a file server one network round trip away would. Writes pass through without
waiting. Needs Debian's fuse and libfuse2 and `pip install fusepy`.

Usage: scripts/slow-mount.py BACKING MOUNT LAT_MS   (foreground; fusermount -u MOUNT ends it)
"""
import errno, os, sys, time
from fuse import FUSE, FuseOSError, Operations

class Lat(Operations):
    def __init__(self, root, lat):
        self.root, self.lat = root, lat
    def _p(self, path):
        return os.path.join(self.root, path.lstrip('/'))
    def _wait(self):
        if self.lat:
            time.sleep(self.lat)
    def __call__(self, op, *args):
        try:
            return super().__call__(op, *args)
        except OSError as e:
            raise FuseOSError(e.errno or errno.EIO)
    def getattr(self, path, fh=None):
        self._wait()
        st = os.lstat(self._p(path))
        return {k: getattr(st, k) for k in ('st_atime', 'st_ctime', 'st_gid', 'st_mode',
                'st_mtime', 'st_nlink', 'st_size', 'st_uid')}
    def opendir(self, path):
        self._wait()
        return 0
    def readdir(self, path, fh):
        self._wait()
        return ['.', '..'] + os.listdir(self._p(path))
    def open(self, path, flags):
        if (flags & os.O_ACCMODE) == os.O_RDONLY:
            self._wait()
        return os.open(self._p(path), flags & ~os.O_NOATIME)
    def create(self, path, mode, fi=None):
        return os.open(self._p(path), os.O_RDWR | os.O_CREAT | os.O_TRUNC, mode)
    def read(self, path, size, offset, fh):
        self._wait()
        return os.pread(fh, size, offset)
    def write(self, path, data, offset, fh):
        return os.pwrite(fh, data, offset)
    def truncate(self, path, length, fh=None):
        os.truncate(self._p(path), length)
    def flush(self, path, fh):
        return 0
    def release(self, path, fh):
        os.close(fh)
    def fsync(self, path, datasync, fh):
        os.fsync(fh)
    def mkdir(self, path, mode):
        os.mkdir(self._p(path), mode)
    def rmdir(self, path):
        os.rmdir(self._p(path))
    def unlink(self, path):
        os.unlink(self._p(path))
    def rename(self, old, new):
        os.rename(self._p(old), self._p(new))
    def chmod(self, path, mode):
        os.chmod(self._p(path), mode)
    def chown(self, path, uid, gid):
        os.chown(self._p(path), uid, gid)
    def utimens(self, path, times=None):
        os.utime(self._p(path), times)
    def statfs(self, path):
        s = os.statvfs(self._p(path))
        return {k: getattr(s, k) for k in ('f_bavail', 'f_bfree', 'f_blocks', 'f_bsize',
                'f_favail', 'f_ffree', 'f_files', 'f_flag', 'f_frsize', 'f_namemax')}
    def access(self, path, mode):
        if not os.access(self._p(path), mode):
            raise FuseOSError(errno.EACCES)
    def symlink(self, target, source):
        os.symlink(source, self._p(target))
    def readlink(self, path):
        return os.readlink(self._p(path))

if __name__ == '__main__':
    FUSE(Lat(sys.argv[1], float(sys.argv[3]) / 1000), sys.argv[2], foreground=True,
         nothreads=False, attr_timeout=0, entry_timeout=0)
