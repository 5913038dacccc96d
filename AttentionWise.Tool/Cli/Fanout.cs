using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;

namespace AttentionWise.Tool.Cli;

/// <summary>
/// `--devices D0,D1,…` of `aw sweep` and `aw reproduce`: one `aw` process per device, each the same command with
/// `--task i/N --device Di` (the assignment of a job array's tasks), run side by side; their lines are shown with the
/// device in front. A stop signal is passed on to every process (each writes its checkpoint). Returns 0 when every
/// process succeeded, <see cref="ExitCodes.Stopped"/> when one was stopped, else <see cref="ExitCodes.Error"/>.
/// </summary>
internal static class Fanout
{
    /// <summary>Options the parent removes from the children's command line (it gives each its own --task and --device).</summary>
    private static readonly string[] Owned = ["--devices", "--device", "--task", "--tasks"];

    /// <summary>The command that starts this program again: the apphost, or `dotnet aw.dll`.</summary>
    public static IReadOnlyList<string> Self()
    {
        string process = Environment.ProcessPath ?? throw new InvalidOperationException("The path of this program is unknown.");
        if (Path.GetFileNameWithoutExtension(process).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            string assembly = Assembly.GetEntryAssembly()?.Location ?? typeof(Fanout).Assembly.Location;
            return [process, assembly];
        }
        return [process];
    }

    /// <summary>The devices of a --devices list (comma separated, none empty).</summary>
    public static IReadOnlyList<string> Devices(string list)
    {
        var devices = list.Split(',', StringSplitOptions.TrimEntries);
        if (devices.Length == 0 || devices.Any(d => d.Length == 0))
            throw new UsageException($"--devices '{list}' is not a comma list of devices (for example 0,1 or cuda,cuda).");
        foreach (var d in devices)
            ComputeDevice.Choose(ComputeDevice.List(), d);
        return devices;
    }

    /// <summary>The tokens of the command line as given, without the options the parent owns (and their values).</summary>
    public static List<string> ChildArguments(IEnumerable<string> tokens)
    {
        var kept = new List<string>();
        bool skipValue = false;
        foreach (var t in tokens)
        {
            if (skipValue)
            {
                skipValue = false;
                continue;
            }
            string name = t.Split('=', 2)[0];
            if (Owned.Contains(name))
            {
                skipValue = !t.Contains('=', StringComparison.Ordinal);
                continue;
            }
            kept.Add(t);
        }
        return kept;
    }

    public static int Run(CliIO io, IReadOnlyList<string> devices, IReadOnlyList<string> arguments, CancellationToken stop)
    {
        var self = Self();
        var processes = new List<Process>();
        var gate = new object();
        try
        {
            for (int i = 0; i < devices.Count; i++)
            {
                var info = new ProcessStartInfo(self[0])
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                };
                foreach (var a in self.Skip(1).Concat(arguments))
                    info.ArgumentList.Add(a);
                foreach (var a in new[] { "--task", string.Create(CultureInfo.InvariantCulture, $"{i}/{devices.Count}"), "--device", devices[i] })
                    info.ArgumentList.Add(a);
                // The children's own terminal output is plain lines, prefixed here.
                info.Environment["CI"] = "1";
                string prefix = string.Create(CultureInfo.InvariantCulture, $"[{i}/{devices.Count} {devices[i]}] ");
                var p = new Process { StartInfo = info };
                p.OutputDataReceived += (_, e) =>
                {
                    if (e.Data is null)
                        return;
                    lock (gate)
                    {
                        io.Out.WriteLine(prefix + e.Data);
                        io.Out.Flush();
                    }
                };
                p.ErrorDataReceived += (_, e) =>
                {
                    if (e.Data is null)
                        return;
                    lock (gate)
                        io.Error.WriteLine(prefix + e.Data);
                };
                p.Start();
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
                processes.Add(p);
            }
            using var forward = stop.Register(() =>
            {
                foreach (var p in processes)
                    Terminate(p);
            });
            foreach (var p in processes)
                p.WaitForExit();
            var codes = processes.Select(p => p.ExitCode).ToList();
            for (int i = 0; i < codes.Count; i++)
            {
                if (codes[i] != ExitCodes.Ok)
                    io.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"aw: task {i}/{devices.Count} on device {devices[i]} ended with exit code {codes[i]}"));
            }
            if (codes.All(c => c == ExitCodes.Ok))
                return ExitCodes.Ok;
            return codes.Any(c => c == ExitCodes.Stopped) ? ExitCodes.Stopped : ExitCodes.Error;
        }
        finally
        {
            foreach (var p in processes)
                p.Dispose();
        }
    }

    /// <summary>Sends SIGTERM (the child stops with a checkpoint); where there are no signals, ends it.</summary>
    private static void Terminate(Process p)
    {
        try
        {
            if (p.HasExited)
                return;
            if (OperatingSystem.IsWindows())
                p.Kill();
            else
                _ = Kill(p.Id, 15);
        }
        catch (InvalidOperationException)
        {
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
#pragma warning disable SYSLIB1054 // LibraryImport needs unsafe code, which this project does not allow
    private static extern int Kill(int pid, int signal);
#pragma warning restore SYSLIB1054
}
