using System.Diagnostics;
using System.Globalization;

namespace AttentionWise.Training;

/// <summary>
/// The one owner of a run folder: an exclusive OS lock on <c>&lt;run&gt;/.lock</c>, held from before the first
/// file of the run is read or written until the run ends. The lock is the open file itself (.NET opens it with
/// <see cref="FileShare.None"/>, which is <c>flock(LOCK_EX)</c> on Linux and macOS and a sharing lock on Windows),
/// so it disappears with the process however that ends; the empty file stays and means nothing by itself.
/// The holder writes its process id to <c>&lt;run&gt;/.lock-pid</c> after it has the lock (the locked file itself cannot
/// be read by anyone else), so that a second writer can say who holds it.
/// </summary>
internal sealed class RunLock : IDisposable
{
    public const string LockFile = ".lock";
    public const string OwnerFile = ".lock-pid";

    private readonly FileStream _stream;
    private readonly string _ownerPath;
    private bool _disposed;

    private RunLock(string directory, FileStream stream)
    {
        Directory = directory;
        _stream = stream;
        _ownerPath = Path.Combine(directory, OwnerFile);
    }

    /// <summary>The run folder held.</summary>
    public string Directory { get; }

    /// <summary>Whether <paramref name="name"/> is one of the lock's own files (they are not part of a run).</summary>
    public static bool IsLockFile(string name) => name is LockFile or OwnerFile;

    /// <summary>Takes the lock of an existing run folder, or fails at once.</summary>
    /// <exception cref="RunInUseException">Another process (or another run in this one) holds it.</exception>
    public static RunLock Acquire(string runDirectory)
    {
        ArgumentNullException.ThrowIfNull(runDirectory);
        string path = Path.Combine(runDirectory, LockFile);
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
        }
        catch (IOException e) when (e is not (FileNotFoundException or DirectoryNotFoundException or PathTooLongException) && IsHeld(e))
        {
            throw new RunInUseException(runDirectory, ReadOwner(runDirectory));
        }
        var held = new RunLock(runDirectory, stream);
        try
        {
            held.WriteOwner();
        }
        catch
        {
            held.Dispose();
            throw;
        }
        return held;
    }

    /// <summary>The process id in <c>.lock-pid</c> while someone holds the lock. The holder writes it right after taking the
    /// lock, so a reader that comes in between, or finds the id of a process that has ended (a holder killed before
    /// it could remove the file), waits for the new one: on a loaded machine the holder may be descheduled between its
    /// two steps, and the wait costs nothing in the usual case, where the id is there at once.</summary>
    private static int? ReadOwner(string runDirectory)
    {
        string path = Path.Combine(runDirectory, OwnerFile);
        var clock = Stopwatch.StartNew();
        int? last = null;
        do
        {
            try
            {
                string text = File.ReadAllText(path).Trim();
                if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
                {
                    last = pid;
                    if (IsAlive(pid))
                        return pid;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
            Thread.Sleep(20);
        }
        while (clock.Elapsed < TimeSpan.FromSeconds(5));
        return last is int p && IsAlive(p) ? p : null;
    }

    private static bool IsAlive(int pid)
    {
        if (pid == Environment.ProcessId)
            return true;
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    /// <summary>Whether an open failed because another handle holds the file: EWOULDBLOCK/EAGAIN from flock on Unix
    /// (11 on Linux, 35 on macOS), a sharing or lock violation on Windows.</summary>
    private static bool IsHeld(IOException e) => e.HResult is 11 or 35 or unchecked((int)0x80070020) or unchecked((int)0x80070021);

    private void WriteOwner()
    {
        string temp = _ownerPath + "." + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + ".tmp";
        File.WriteAllText(temp, Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        File.Move(temp, _ownerPath, overwrite: true);
    }

    /// <summary>Removes the process id (if it is still this process's) and releases the lock.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        try
        {
            if (File.Exists(_ownerPath) && File.ReadAllText(_ownerPath).Trim() == Environment.ProcessId.ToString(CultureInfo.InvariantCulture))
                File.Delete(_ownerPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The id file is advice for error messages; the lock is what counts.
        }
        _stream.Dispose();
    }
}
