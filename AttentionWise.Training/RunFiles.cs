using System.Text;
using System.Text.Json;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.IO;
using AttentionWise.Training.Models;

namespace AttentionWise.Training;

/// <summary>
/// The files of a run folder and how they are written and read: config.json (<see cref="RunConfiguration"/>),
/// summary.json (<see cref="RunSummary"/>), epochs.csv (<see cref="EpochRow"/>), steps.csv (<see cref="StepRow"/>)
/// and the checkpoint. JSON files are replaced atomically (temporary file, then rename). Readers get either the
/// record or a <see cref="RunFolderException"/> that names the file and what is wrong with it.
/// </summary>
public static class RunFiles
{
    public const string EpochsFile = "epochs.csv";
    public const string StepsFile = "steps.csv";
    public const string ConfigFile = "config.json";
    public const string SummaryFile = "summary.json";

    /// <summary>The largest run file (JSON or CSV) read whole: far above any real run's.</summary>
    private const long MaxFileBytes = 1L << 30;

    private static readonly JsonSerializerOptions WriteOptions = new(ModelConfig.Json) { WriteIndented = true };

    /// <summary>Whether a folder holds the start of a run (a log or a checkpoint).</summary>
    public static bool HoldsRun(string runDirectory) =>
        File.Exists(Path.Combine(runDirectory, EpochsFile)) || File.Exists(Path.Combine(runDirectory, Checkpoint.FileName));

    public static void WriteConfig(string runDirectory, RunConfiguration config) =>
        WriteJson(Path.Combine(runDirectory, ConfigFile), config);

    public static void WriteSummary(string runDirectory, RunSummary summary) =>
        WriteJson(Path.Combine(runDirectory, SummaryFile), summary);

    /// <exception cref="RunFolderException">The file is missing, unreadable or not a valid config.json.</exception>
    public static RunConfiguration ReadConfig(string path) => ReadJson<RunConfiguration>(path, "config.json");

    /// <exception cref="RunFolderException">The file is missing, unreadable or not a valid summary.json.</exception>
    public static RunSummary ReadSummary(string path) => ReadJson<RunSummary>(path, "summary.json");

    /// <summary>Every row of epochs.csv or steps.csv. A torn last line (one without its newline: the write of that row was
    /// cut short) is not a row.</summary>
    /// <exception cref="RunFolderException">The file is missing, unreadable or has a malformed row (the message gives its line).</exception>
    public static List<T> ReadRows<T>(string path)
        where T : class
    {
        RequireReadable(path);
        string text;
        try
        {
            text = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RunFolderException($"{path}: cannot be read: {e.Message}", e);
        }
        try
        {
            return CsvLog<T>.Parse(CsvLog<T>.WithoutTornTail(text));
        }
        catch (Exception e) when (e is FormatException or OverflowException or KeyNotFoundException or InvalidOperationException
                                       or ArgumentException or IndexOutOfRangeException or InvalidCastException)
        {
            // CsvHelper's CsvFormatException and CsvValidationException are FormatExceptions naming the row and field; a
            // missing column is a KeyNotFoundException, a number too large an OverflowException.
            throw new RunFolderException($"{path}: not a valid {Path.GetFileName(path)}: {OneLine(e.Message)}", e);
        }
    }

    /// <summary>Removes everything in a run folder but its lock, under the lock: for `aw reproduce --force` and
    /// `aw sweep`, which start a run again from nothing.</summary>
    /// <exception cref="RunInUseException">Another process trains there.</exception>
    public static void Clear(string runDirectory)
    {
        if (!Directory.Exists(runDirectory))
            return;
        using var held = RunLock.Acquire(runDirectory);
        foreach (var entry in new DirectoryInfo(runDirectory).EnumerateFileSystemInfos())
        {
            if (RunLock.IsLockFile(entry.Name))
                continue;
            if (entry is DirectoryInfo d && d.LinkTarget is null)
                d.Delete(recursive: true);
            else
                entry.Delete();
        }
    }

    /// <summary>Deletes the named files of a run folder under its lock.</summary>
    /// <exception cref="RunInUseException">Another process trains there.</exception>
    public static void Delete(string runDirectory, params string[] files)
    {
        ArgumentNullException.ThrowIfNull(files);
        if (!Directory.Exists(runDirectory))
            return;
        using var held = RunLock.Acquire(runDirectory);
        foreach (var f in files)
        {
            string p = Path.Combine(runDirectory, f);
            if (File.Exists(p))
                File.Delete(p);
        }
    }

    private static T ReadJson<T>(string path, string what)
        where T : class
    {
        RequireReadable(path);
        string text;
        try
        {
            text = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RunFolderException($"{path}: cannot be read: {e.Message}", e);
        }
        try
        {
            return JsonSerializer.Deserialize<T>(text, ModelConfig.Json)
                   ?? throw new RunFolderException($"{path}: not a valid {what}: it holds null instead of an object.");
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            throw new RunFolderException($"{path}: not a valid {what}: {OneLine(e.Message)}", e);
        }
    }

    private static void RequireReadable(string path)
    {
        InputFile.RequireRegular(path, m => new RunFolderException(m));
        var info = new FileInfo(path);
        if (!info.Exists)
            throw new RunFolderException($"{path}: no such file.");
        if (info.Length > MaxFileBytes)
            throw new RunFolderException($"{path}: {info.Length:N0} bytes, more than a run file of {MaxFileBytes:N0} bytes can be.");
    }

    private static void WriteJson<T>(string path, T value)
    {
        string temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(value, WriteOptions) + "\n", new UTF8Encoding(false));
        File.Move(temp, path, overwrite: true);
    }

    private static string OneLine(string s) => string.Join(" ", s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
