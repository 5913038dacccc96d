using System.Globalization;

namespace AttentionWise.Tool.Reproduction;

/// <summary>
/// One task's share of a sweep's or a reproduction's configurations: task <see cref="Index"/> of <see cref="Count"/>
/// (0-based) takes configurations <see cref="Index"/>, <see cref="Index"/> + <see cref="Count"/>, … in the command's
/// fixed order, so the tasks of a Slurm job array, a Kubernetes Indexed Job or <c>--devices</c> split the work without
/// talking to each other. Each configuration is one run folder, held by its run lock while it trains.
/// </summary>
internal sealed record Shard(int Index, int Count)
{
    /// <summary>The environment variables read when --task is not given.</summary>
    public const string SlurmTaskId = "SLURM_ARRAY_TASK_ID", SlurmTaskCount = "SLURM_ARRAY_TASK_COUNT", SlurmTaskMin = "SLURM_ARRAY_TASK_MIN",
        KubernetesIndex = "JOB_COMPLETION_INDEX";

    /// <summary>Whether this task trains configuration <paramref name="position"/> (0-based, in the command's order).</summary>
    public bool Takes(int position) => position % Count == Index;

    /// <summary>The positions of <paramref name="total"/> configurations this task takes.</summary>
    public IEnumerable<int> Positions(int total) => Enumerable.Range(0, total).Where(Takes);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"task {Index}/{Count}");

    /// <summary>Parses "I/N" (0 ≤ I &lt; N).</summary>
    /// <exception cref="FormatException">Not of that form.</exception>
    public static Shard Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split('/');
        if (parts.Length != 2
            || !int.TryParse(parts[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int i)
            || !int.TryParse(parts[1].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            || n < 1 || i >= n)
        {
            throw new FormatException($"'{text}' is not a task I/N with 0 <= I < N (for example 0/4: the first of four tasks).");
        }
        return new Shard(i, n);
    }

    /// <summary>
    /// The task from --task, else from the environment: a Slurm array task (SLURM_ARRAY_TASK_ID, counted from
    /// SLURM_ARRAY_TASK_MIN, of SLURM_ARRAY_TASK_COUNT tasks), else a Kubernetes Indexed Job (JOB_COMPLETION_INDEX,
    /// with <paramref name="tasks"/> from --tasks). Null when none is given: the command trains every configuration.
    /// </summary>
    /// <exception cref="FormatException">An option or variable is malformed or out of range (the message names it).</exception>
    public static Shard? Resolve(string? task, int? tasks, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        if (task is not null)
        {
            var s = Parse(task);
            if (tasks is int t && t != s.Count)
                throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"--task {task} says {s.Count} tasks but --tasks says {t}."));
            return s;
        }
        string? slurm = environment(SlurmTaskId);
        if (!string.IsNullOrEmpty(slurm))
        {
            int id = Variable(SlurmTaskId, slurm);
            int min = environment(SlurmTaskMin) is { Length: > 0 } m ? Variable(SlurmTaskMin, m) : 0;
            int count = tasks ?? (environment(SlurmTaskCount) is { Length: > 0 } c
                ? Variable(SlurmTaskCount, c)
                : throw new FormatException($"{SlurmTaskId} is set but {SlurmTaskCount} is not: pass --tasks N or --task I/N."));
            return Checked(id - min, count, $"{SlurmTaskId}={slurm} (from {min})");
        }
        string? k8s = environment(KubernetesIndex);
        if (!string.IsNullOrEmpty(k8s))
        {
            int index = Variable(KubernetesIndex, k8s);
            int count = tasks ?? throw new FormatException($"{KubernetesIndex} is set: pass --tasks N, the Indexed Job's completions.");
            return Checked(index, count, $"{KubernetesIndex}={k8s}");
        }
        if (tasks is not null)
            throw new FormatException($"--tasks is given but neither --task, {SlurmTaskId} nor {KubernetesIndex} says which task this is.");
        return null;
    }

    private static Shard Checked(int index, int count, string what) =>
        count >= 1 && index >= 0 && index < count
            ? new Shard(index, count)
            : throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"{what} is not a task of {count} (0 to {count - 1})."));

    private static int Variable(string name, string value) =>
        int.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int v)
            ? v
            : throw new FormatException($"{name}='{value}' is not a whole number.");
}
