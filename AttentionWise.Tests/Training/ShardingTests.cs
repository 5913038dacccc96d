using System.Globalization;
using AttentionWise.Tests.Data;
using AttentionWise.Tool.Cli;
using AttentionWise.Tool.Reproduction;
using AttentionWise.Training;

namespace AttentionWise.Tests.Training;

/// <summary>Sweeps and reproductions split into tasks (--task, the job-array variables), their report steps, and the
/// scripts of `aw slurm`. The real cluster runs in scripts/slurm.</summary>
public class ShardingTests
{
    private static (int Code, string Out, string Err) Aw(params string[] args) => CliTests.Aw(args);

    [Fact]
    public void TasksTakeEveryNthConfigurationAndTogetherAllOfThem()
    {
        var shards = Enumerable.Range(0, 3).Select(i => Shard.Parse(string.Create(CultureInfo.InvariantCulture, $"{i}/3"))).ToList();
        Assert.Equal(new[] { 1, 4, 7 }, shards[1].Positions(9));
        Assert.Equal(Enumerable.Range(0, 10), shards.SelectMany(s => s.Positions(10)).Order());
        Assert.Empty(Shard.Parse("3/4").Positions(2));
        foreach (var bad in new[] { "4/4", "1", "-1/2", "a/b", "0/0", "1/2/3", "" })
            Assert.Throws<FormatException>(() => Shard.Parse(bad));
    }

    [Fact]
    public void TheTaskComesFromTheOptionThenSlurmThenKubernetes()
    {
        static Func<string, string?> Env(params (string Name, string Value)[] vars) => n => vars.FirstOrDefault(v => v.Name == n).Value;
        Assert.Null(Shard.Resolve(null, null, Env()));
        Assert.Equal(new Shard(2, 5), Shard.Resolve("2/5", null, Env(("SLURM_ARRAY_TASK_ID", "0"), ("SLURM_ARRAY_TASK_COUNT", "9"))));
        Assert.Equal(new Shard(3, 4), Shard.Resolve(null, null, Env(("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_COUNT", "4"))));
        // An array numbered from 1 (--array=1-4) counts from SLURM_ARRAY_TASK_MIN.
        Assert.Equal(new Shard(0, 4), Shard.Resolve(null, null, Env(("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_COUNT", "4"))));
        Assert.Equal(new Shard(1, 3), Shard.Resolve(null, 3, Env(("JOB_COMPLETION_INDEX", "1"))));
        Assert.Contains("--tasks", Assert.Throws<FormatException>(() => Shard.Resolve(null, null, Env(("JOB_COMPLETION_INDEX", "1")))).Message);
        Assert.Contains("not a task of 2", Assert.Throws<FormatException>(() => Shard.Resolve(null, 2, Env(("JOB_COMPLETION_INDEX", "2")))).Message);
        Assert.Throws<FormatException>(() => Shard.Resolve("1/4", 3, Env()));
        Assert.Throws<FormatException>(() => Shard.Resolve(null, 3, Env()));
        Assert.Throws<FormatException>(() => Shard.Resolve(null, null, Env(("SLURM_ARRAY_TASK_ID", "x"), ("SLURM_ARRAY_TASK_COUNT", "2"))));
    }

    private static string[] Sweep(TempDir dir, string runs, string reports, params string[] extra) =>
    [
        "sweep", "--models", "attention-a,attention-b,control", "--batch-size", "8", "--steps", "1", "--warmup", "0", "--epochs", "1", "--train-limit", "32",
        "--data", dir.Path, "--out", dir.File(reports), "--runs-dir", dir.File(runs), "--device", "cpu", "--no-plot", .. extra,
    ];

    /// <summary>sweep.csv without the columns that measure time or name the date.</summary>
    private static List<string> Untimed(string csv) =>
        AttentionWise.Tool.Reproduction.Sweep.ReadCsv(csv).Select(r => string.Create(CultureInfo.InvariantCulture,
            $"{r.Model},{r.Parameters},{r.BatchSize},{r.Epochs},{r.TrainLimit},{r.TestAccuracy},{r.Status}")).ToList();

    [Fact]
    public void TwoTasksAndTheReportGiveOneProcesssSweep()
    {
        using var dir = new TempDir();
        SyntheticData.Write(dir.Path, 48, 16, 4);
        var one = Aw(Sweep(dir, "one", "one-reports"));
        Assert.True(one.Code == 0, one.Err);

        var first = Aw(Sweep(dir, "runs", "reports", "--task", "0/2"));
        Assert.True(first.Code == 0, first.Err);
        Assert.Contains("task 0/2: 2 of 3 configuration(s): control, attention-b", first.Out);
        Assert.False(File.Exists(dir.File("reports/sweep.csv")), "a task wrote sweep.csv");
        // The report before every task has ended: the rows there are, and an error naming the model without one.
        var early = Aw(Sweep(dir, "runs", "reports", "--report"));
        Assert.Equal(ExitCodes.Error, early.Code);
        Assert.Contains("attention-a: no row", early.Err);

        var second = Aw(Sweep(dir, "runs", "reports", "--task", "1/2"));
        Assert.True(second.Code == 0, second.Err);
        var report = Aw(Sweep(dir, "runs", "reports", "--report"));
        Assert.True(report.Code == 0, report.Err);
        Assert.Equal(Untimed(dir.File("one-reports/sweep.csv")), Untimed(dir.File("reports/sweep.csv")));
        foreach (var m in new[] { "attention-a", "attention-b", "control" })
        {
            Assert.Equal(File.ReadAllLines(dir.File($"one/sweep-{m}/steps.csv")), File.ReadAllLines(dir.File($"runs/sweep-{m}/steps.csv")));
            Assert.Equal(File.ReadAllBytes(dir.File($"one/sweep-{m}/checkpoint.safetensors")), File.ReadAllBytes(dir.File($"runs/sweep-{m}/checkpoint.safetensors")));
        }

        // A task run again keeps what it measured; with other settings it measures again.
        var again = Aw(Sweep(dir, "runs", "reports", "--task", "1/2"));
        Assert.True(again.Code == 0, again.Err);
        Assert.Contains("attention-a: already measured with these settings", again.Out);
        var other = Aw(Sweep(dir, "runs", "reports", "--task", "1/2", "--seed", "5"));
        Assert.True(other.Code == 0, other.Err);
        Assert.DoesNotContain("already measured", other.Out);
        var stale = Aw(Sweep(dir, "runs", "reports", "--report"));
        Assert.Equal(ExitCodes.Error, stale.Code);
        Assert.Contains("attention-a: ", stale.Err);
        Assert.Contains("other settings", stale.Err);

        // Bad task values and options that exclude each other are usage errors.
        Assert.Equal(ExitCodes.Usage, Aw(Sweep(dir, "runs", "reports", "--task", "2/2")).Code);
        Assert.Equal(ExitCodes.Usage, Aw(Sweep(dir, "runs", "reports", "--task", "0/2", "--report")).Code);
        Assert.Equal(ExitCodes.Usage, Aw(Sweep(dir, "runs", "reports", "--tasks", "2")).Code);
    }

    [Fact]
    public void ATaskStoppedBySignalResumesTheInterruptedConfigurationNextTime()
    {
        using var dir = new TempDir();
        SyntheticData.Write(dir.Path, 48, 16, 4);
        Assert.Equal(0, Aw(Sweep(dir, "one", "one-reports")).Code);

        var request = new SweepRequest
        {
            Models = ["attention-a", "attention-b", "control"], ModelsNamed = true, Steps = 1, WarmupSteps = 0, Epochs = 1, TrainLimit = 32, BatchSize = 8,
            Device = "cpu", FashionData = dir.Path, OutDirectory = dir.File("reports"), RunsDirectory = dir.File("runs"), Shard = new Shard(0, 1),
        };
        using var source = new CancellationTokenSource();
        var lines = new List<string>();
        // The signal comes during attention-b's second step.
        var stopped = AttentionWise.Tool.Reproduction.Sweep.Run(request with { Stop = source.Token },
            r => Trainer.Run(r, r.Run == "sweep-attention-b" ? new StopAtStep(2, source) : null), lines.Add);
        Assert.True(stopped.Stopped);
        Assert.Equal(new[] { "attention-a" }, stopped.Rows.Select(r => r.Model));
        var info = AttentionWise.Training.Checkpoints.Checkpoint.ReadInfo(dir.File("runs/sweep-attention-b/checkpoint.safetensors"));
        Assert.Equal((0, 2), (info.Epoch, info.Step));

        lines.Clear();
        var resumed = AttentionWise.Tool.Reproduction.Sweep.Run(request, r => Trainer.Run(r), lines.Add);
        Assert.False(resumed.Stopped);
        Assert.Equal(new[] { "attention-a" }, resumed.Kept);
        Assert.Contains(lines, l => l.Contains("attention-b: resuming the interrupted training", StringComparison.Ordinal));
        Assert.Equal(0, Aw(Sweep(dir, "runs", "reports", "--report")).Code);
        Assert.Equal(Untimed(dir.File("one-reports/sweep.csv")), Untimed(dir.File("reports/sweep.csv")));
        Assert.Equal(File.ReadAllLines(dir.File("one/sweep-attention-b/steps.csv")), File.ReadAllLines(dir.File("runs/sweep-attention-b/steps.csv")));
    }

    [Fact]
    public void AStopBeforeAModelStartsEndsTheSweepThere()
    {
        using var dir = new TempDir();
        SyntheticData.Write(dir.Path, 48, 16, 4);
        using var source = new CancellationTokenSource();
        source.Cancel();
        var request = new SweepRequest
        {
            Models = ["attention-a"], Steps = 1, WarmupSteps = 0, Epochs = 1, TrainLimit = 32, BatchSize = 8, Device = "cpu", FashionData = dir.Path,
            OutDirectory = dir.File("reports"), RunsDirectory = dir.File("runs"), Shard = new Shard(0, 1), Stop = source.Token,
        };
        var outcome = AttentionWise.Tool.Reproduction.Sweep.Run(request, r => throw new InvalidOperationException("nothing should train"), _ => { });
        Assert.True(outcome.Stopped);
        Assert.Empty(outcome.Rows);
        Assert.False(Directory.Exists(dir.File("runs/sweep-attention-a")));
    }

    private sealed class StopAtStep(int step, CancellationTokenSource source) : ITrainingObserver
    {
        public void Started(RunStart start)
        {
        }

        public void Step(int epoch, int s, int stepsPerEpoch, float loss, double imagesPerSecond)
        {
            if (s == step)
                source.Cancel();
        }

        public void Evaluating(int epoch)
        {
        }

        public void EpochCompleted(EpochRow row)
        {
        }
    }

    [Fact]
    public void ReproduceTasksTrainTheirRowsAndTheReportStepWritesTheTable()
    {
        using var dir = new TempDir();
        SyntheticData.Write(dir.Path, 120, 60, 8);
        string[] Reproduce(params string[] extra) =>
        [
            "reproduce", "--models", "attention-a,attention-b", "--epochs", "1", "--train-limit", "64", "--batch-size", "16", "--data", dir.Path,
            "--runs-dir", dir.File("runs"), "--out", dir.File("reports"), "--device", "cpu", .. extra,
        ];
        var first = Aw(Reproduce("--task", "1/2"));
        Assert.True(first.Code == 0, first.Err);
        Assert.Contains("task 1/2: 1 of 2 row(s): attention-b", first.Out);
        Assert.False(File.Exists(dir.File("reports/table1.csv")), "a task wrote the report");
        Assert.Single(Directory.GetDirectories(dir.File("runs")));
        Assert.Equal(0, Aw(Reproduce("--task", "0/2")).Code);
        var report = Aw(Reproduce("--report-only"));
        Assert.True(report.Code == 0, report.Err);
        var csv = File.ReadAllLines(dir.File("reports/table1.csv"));
        Assert.Equal(2, Directory.GetDirectories(dir.File("runs")).Length);
        Assert.Contains(csv, l => l.StartsWith("attention-a,", StringComparison.Ordinal) && !l.Contains(",,,,", StringComparison.Ordinal));
        Assert.Contains(csv, l => l.StartsWith("attention-b,", StringComparison.Ordinal) && !l.Contains(",,,,", StringComparison.Ordinal));
    }

    [Fact]
    public void SlurmWritesAnArrayWithSignalAndRequeueAReportJobAndASubmitScript()
    {
        using var dir = new TempDir();
        var (code, output, error) = Aw("slurm", "sweep", "--dir", dir.File("slurm"), "--partition", "gpu", "--gpus-per-task", "1", "--time", "2:00:00",
            "--max-parallel", "2", "--aw", "/opt/aw/aw", "--", "--models", "attention-a,attention-b,attention-c", "--device", "cuda", "--out", "my reports");
        Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        Assert.Contains("3 array task(s) for 3 configuration(s)", output);
        string array = File.ReadAllText(dir.File("slurm/aw-sweep.sbatch"));
        foreach (var line in new[]
                 {
                     "#SBATCH --array=0-2%2", "#SBATCH --partition=gpu", "#SBATCH --gpus-per-task=1", "#SBATCH --time=2:00:00", "#SBATCH --signal=TERM@300",
                     "#SBATCH --requeue", "aw=(/opt/aw/aw)", "args=(sweep --models attention-a,attention-b,attention-c --device cuda --out 'my reports')",
                     "if [[ $status -eq 75 ]]; then",
                 })
            Assert.Contains(line + "\n", array);
        Assert.Contains("scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"", array);
        string report = File.ReadAllText(dir.File("slurm/aw-sweep-report.sbatch"));
        Assert.Contains("args=(sweep --models attention-a,attention-b,attention-c --out 'my reports')\n", report);
        Assert.Contains("\"${args[@]}\" --report\n", report);
        string submit = File.ReadAllText(dir.File("slurm/submit.sh"));
        Assert.Contains("--dependency=afterok:\"$array\"", submit);

        var reproduce = Aw("slurm", "reproduce", "--dir", dir.File("r"), "--tasks", "4", "--", "--epochs", "3");
        Assert.True(reproduce.Code == 0, reproduce.Err);
        Assert.Contains("#SBATCH --array=0-3\n", File.ReadAllText(dir.File("r/aw-reproduce.sbatch")));
        Assert.Contains("--report-only", File.ReadAllText(dir.File("r/aw-reproduce-report.sbatch")));

        // The command's options are checked as the command checks them; the task options belong to the scripts.
        var bad = Aw("slurm", "sweep", "--dir", dir.File("x"), "--", "--models", "nope");
        Assert.Equal(ExitCodes.Usage, bad.Code);
        Assert.Contains("nope", bad.Err);
        var owned = Aw("slurm", "sweep", "--dir", dir.File("x"), "--", "--task", "0/2");
        Assert.Equal(ExitCodes.Usage, owned.Code);
        Assert.Contains("--task belongs to the job scripts", owned.Err);
    }

    [Fact]
    public void DevicesGiveEveryProcessTheCommandWithoutTheOptionsTheParentOwns()
    {
        Assert.Equal(new[] { "sweep", "--models", "attention-a", "--epochs", "1" },
            Fanout.ChildArguments(["sweep", "--devices", "0,1", "--models", "attention-a", "--device=cuda", "--task", "0/2", "--epochs", "1", "--tasks", "2"]));
        Assert.Equal(new[] { "cpu", "cpu" }, Fanout.Devices("cpu, cpu"));
        Assert.Throws<UsageException>(() => Fanout.Devices("cpu,,cpu"));
        using var dir = new TempDir();
        var both = Aw("sweep", "--devices", "cpu,cpu", "--report", "--out", dir.Path);
        Assert.Equal(ExitCodes.Usage, both.Code);
        Assert.Contains("exclude each other", both.Err);
    }

    [Fact]
    public void ASweepCsvWrittenBeforeTheLossColumnsIsStillReadAndMerged()
    {
        using var dir = new TempDir();
        string csv = dir.File("sweep.csv");
        File.WriteAllText(csv, string.Join(",", SweepRow.ColumnsWithoutLosses) + "\n" +
            "attention-a,33088,4096,946.446,4327.8,1171.6,1,,61.58,\"CPU (2 threads, compat)\",completed,2026-11-22 07:06 +00:00\n");
        var old = AttentionWise.Tool.Reproduction.Sweep.ReadCsv(csv);
        Assert.Equal(61.58, old[0].TestAccuracy);
        Assert.True(double.IsNaN(old[0].LossSum) && double.IsNaN(old[0].TestLoss));
        Assert.Equal("CPU (2 threads, compat)", old[0].Device);

        // A report into that folder keeps the old row, now with the loss columns.
        var request = new SweepRequest { Models = ["attention-b"], OutDirectory = dir.Path, RunsDirectory = dir.File("runs") };
        var (path, rows, missing) = AttentionWise.Tool.Reproduction.Sweep.Report(request);
        Assert.Empty(rows);
        Assert.Single(missing);
        var lines = File.ReadAllLines(path);
        Assert.Equal(string.Join(",", SweepRow.Columns), lines[0]);
        Assert.StartsWith("attention-a,33088,4096,946.446,4327.8,1171.6,1,,61.58,NaN,NaN,", lines[1]);
    }
}
