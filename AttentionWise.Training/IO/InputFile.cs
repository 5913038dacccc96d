using System.Runtime.InteropServices;

namespace AttentionWise.Training.IO;

/// <summary>
/// Checks on a file the user names (a data set, a checkpoint, a run's files) before it is opened: only regular
/// files are read. A FIFO would block the open (or the read) until some other process writes to it, and a device
/// such as /dev/zero never ends, so neither is opened at all.
/// </summary>
/// <remarks>
/// On Linux the file type comes from statx(2), whose layout is the same on every architecture. Elsewhere, or where
/// statx is missing, a file whose size is 0 counts as not regular: FIFOs and devices report size 0, and an empty
/// file holds no data set or checkpoint either.
/// </remarks>
internal static class InputFile
{
    private const int AtFdCwd = -100;
    private const uint StatxType = 0x1;
    private const int StatxModeOffset = 28;
    private const int StatxBufferBytes = 256;
    private const int ENOENT = 2;
    private const int ENOTDIR = 20;

    private static bool _statxMissing;

    private enum Kind
    {
        Missing,
        Regular,
        Directory,
        Fifo,
        CharacterDevice,
        BlockDevice,
        Socket,
        EmptyOrSpecial,
    }

    /// <summary>Why <paramref name="path"/> is not a regular file ("is a FIFO (named pipe), not a regular file"),
    /// or null when it is one or does not exist (opening it then reports that).</summary>
    public static string? NotRegular(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var kind = Classify(path);
        if (kind is Kind.Missing or Kind.Regular)
            return null;
        string link = LinkNote(path);
        return kind switch
        {
            Kind.Directory => $"is a directory{link}, not a file",
            Kind.Fifo => $"is a FIFO (named pipe){link}, not a regular file: reading it would wait for another process to write",
            Kind.CharacterDevice => $"is a character device{link}, not a regular file",
            Kind.BlockDevice => $"is a block device{link}, not a regular file",
            Kind.Socket => $"is a socket{link}, not a regular file",
            _ => $"is empty (0 bytes) or not a regular file{link} (a FIFO or a device)",
        };
    }

    /// <summary>Throws <paramref name="error"/>("PATH: is a FIFO …") when <paramref name="path"/> exists but is not a regular file.</summary>
    public static void RequireRegular(string path, Func<string, Exception> error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (NotRegular(path) is string why)
            throw error($"{path}: {why}.");
    }

    private static string LinkNote(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.LinkTarget is null)
                return "";
            string? target = info.ResolveLinkTarget(returnFinalTarget: true)?.FullName;
            return target is null ? " (a symbolic link)" : $" (a link to {target})";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    private static Kind Classify(string path)
    {
        if (OperatingSystem.IsLinux() && !_statxMissing && TryStatx(path, out var kind))
            return kind;
        if (Directory.Exists(path))
            return Kind.Directory;
        var info = new FileInfo(path);
        if (!info.Exists)
            return Kind.Missing;
        return info.Length > 0 ? Kind.Regular : Kind.EmptyOrSpecial;
    }

    private static bool TryStatx(string path, out Kind kind)
    {
        kind = Kind.Missing;
        var buffer = new byte[StatxBufferBytes];
        int result;
        try
        {
            result = Statx(AtFdCwd, path, 0, StatxType, buffer);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            _statxMissing = true;
            return false;
        }
        if (result != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is ENOENT or ENOTDIR)
                return true; // Missing
            return false; // e.g. EACCES: let the open report it
        }
        int mode = BitConverter.ToUInt16(buffer, StatxModeOffset) & 0xF000;
        kind = mode switch
        {
            0x8000 => Kind.Regular,
            0x4000 => Kind.Directory,
            0x1000 => Kind.Fifo,
            0x2000 => Kind.CharacterDevice,
            0x6000 => Kind.BlockDevice,
            0xC000 => Kind.Socket,
            _ => Kind.EmptyOrSpecial,
        };
        return true;
    }

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, [Out] byte[] buffer);
}
