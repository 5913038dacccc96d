using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using AttentionWise.Tests.Data;
using AttentionWise.Training;

namespace AttentionWise.Tests.Training;

/// <summary>
/// A small run trained once (attention-b, 2 epochs on a synthetic 8×8 set) that hostile-input tests copy and damage,
/// so that each test starts from a valid run folder of its own.
/// </summary>
public sealed class TrainedRun : IDisposable
{
    public const int Epochs = 2;
    public const int TrainImages = 120;
    public const int TestImages = 60;
    public const int BatchSize = 16;
    public const int StepsPerEpoch = (TrainImages + BatchSize - 1) / BatchSize;

    private int _copies;

    public TrainedRun()
    {
        Dir = new TempDir();
        SyntheticData.Write(Dir.Path, TrainImages, TestImages, 8);
        var (code, output, error) = CliTests.Aw(TrainArgs("base", "--epochs", Epochs.ToString(CultureInfo.InvariantCulture)));
        if (code != 0)
            throw new InvalidOperationException($"the base run did not train: exit {code}: {error}\n{output}");
    }

    public TempDir Dir { get; }
    public string DataDirectory => Dir.Path;
    public string RunsDirectory => Dir.File("runs");
    public string Base => Path.Combine(RunsDirectory, "base");

    /// <summary>`aw train` arguments for run <paramref name="run"/> of this set; <paramref name="extra"/> adds or replaces options.</summary>
    public string[] TrainArgs(string run, params string[] extra)
    {
        var options = new Dictionary<string, string>
        {
            ["--model"] = "attention-b", ["--data"] = DataDirectory, ["--runs-dir"] = RunsDirectory, ["--run"] = run,
            ["--device"] = "cpu", ["--batch-size"] = BatchSize.ToString(CultureInfo.InvariantCulture), ["--lr"] = "0.003", ["--seed"] = "7",
        };
        for (int i = 0; i + 1 < extra.Length; i += 2)
            options[extra[i]] = extra[i + 1];
        return ["train", .. options.SelectMany(o => new[] { o.Key, o.Value })];
    }

    /// <summary>`aw train --resume` of run <paramref name="run"/>.</summary>
    public string[] ResumeArgs(string run, int epochs) =>
        ["train", "--resume", "--run", run, "--runs-dir", RunsDirectory, "--device", "cpu", "--epochs", epochs.ToString(CultureInfo.InvariantCulture)];

    /// <summary>A copy of the base run (its files, not its lock) under a new name; returns (name, folder).</summary>
    public (string Name, string Directory) Copy(string prefix)
    {
        string name = FormattableString.Invariant($"{prefix}-{Interlocked.Increment(ref _copies)}");
        string target = Path.Combine(RunsDirectory, name);
        Directory.CreateDirectory(target);
        foreach (var f in Directory.GetFiles(Base))
        {
            if (!RunLock.IsLockFile(Path.GetFileName(f)))
                File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
        }
        return (name, target);
    }

    public void Dispose() => Dir.Dispose();
}

/// <summary>Helpers of the hostile-input tests.</summary>
internal static class Hostile
{
    /// <summary>Every file of a folder (not the lock's) with its bytes, to show that nothing changed.</summary>
    public static Dictionary<string, byte[]> Snapshot(string directory) =>
        Directory.GetFiles(directory)
            .Where(f => !RunLock.IsLockFile(Path.GetFileName(f)))
            .ToDictionary(f => Path.GetFileName(f)!, File.ReadAllBytes, StringComparer.Ordinal);

    public static void Unchanged(Dictionary<string, byte[]> before, string directory)
    {
        var after = Snapshot(directory);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (name, bytes) in before)
            Assert.True(bytes.AsSpan().SequenceEqual(after[name]), $"{name} changed");
    }

    /// <summary>The error output is exactly one "aw: error:" line (no stack trace); returns it.</summary>
    public static string OneErrorLine(string error)
    {
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToList();
        Assert.True(lines.Count == 1, $"expected one error line, got {lines.Count}:\n{error}");
        Assert.StartsWith("aw: error: ", lines[0]);
        Assert.DoesNotContain("   at ", error);
        return lines[0];
    }

    /// <summary>A safetensors file's header JSON (padding removed) and the data after it.</summary>
    public static (string Json, byte[] Data) SplitSafeTensors(string path)
    {
        var bytes = File.ReadAllBytes(path);
        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        string json = Encoding.UTF8.GetString(bytes, 8, (int)n).TrimEnd(' ');
        return (json, bytes[(int)(8 + n)..]);
    }

    /// <summary>Writes a safetensors file from header JSON and data bytes (no checks: the point is to write damaged ones).</summary>
    public static void JoinSafeTensors(string path, string json, byte[] data)
    {
        var header = Encoding.UTF8.GetBytes(json);
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        File.WriteAllBytes(path, bytes);
    }

    /// <summary>Creates a FIFO (Linux and macOS).</summary>
    public static void MakeFifo(string path)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "FIFOs are a Unix thing.");
        if (Mkfifo(path, Convert.ToUInt32("644", 8)) != 0)
            throw new IOException($"mkfifo {path} failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int Mkfifo([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);

    /// <summary>Runs <paramref name="body"/> on another thread and fails the test, instead of hanging it, when it takes
    /// longer than <paramref name="limit"/> (a guard against a blocking read, not a measure of speed).</summary>
    public static T Within<T>(TimeSpan limit, Func<T> body)
    {
        var task = Task.Factory.StartNew(body, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Assert.True(task.Wait(limit), $"still running after {limit.TotalSeconds:0} s: it blocks");
        return task.Result;
    }

    /// <summary>Starts the `aw` tool of this build in a process of its own.</summary>
    public static Process StartAw(IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "aw.dll"));
        foreach (var a in args)
            start.ArgumentList.Add(a);
        start.Environment["CI"] = "1";
        return Process.Start(start) ?? throw new InvalidOperationException("aw did not start");
    }

    /// <summary>Waits for a process started by <see cref="StartAw"/> and returns its exit code and output.</summary>
    public static (int Code, string Out, string Err) Finish(Process p)
    {
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail("aw did not finish within 5 minutes");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
