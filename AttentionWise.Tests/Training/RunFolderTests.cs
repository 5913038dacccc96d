using System.Globalization;
using AttentionWise.Tests.Data;
using AttentionWise.Tool.Cli;
using AttentionWise.Tool.Reproduction;
using AttentionWise.Training;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Models;

namespace AttentionWise.Tests.Training;

/// <summary>
/// One owner per run folder, and a resumed run that refuses a folder whose files disagree with its checkpoint:
/// concurrent trainings, killed trainings, damaged logs and configs, bad run names, and models that cannot fit.
/// </summary>
public class RunFolderTests : IClassFixture<TrainedRun>
{
    private readonly TrainedRun _run;

    public RunFolderTests(TrainedRun run) => _run = run;

    /// <summary>Calls an action when a run starts (its lock is held then) and otherwise watches nothing.</summary>
    private sealed class OnStart(Action started) : ITrainingObserver
    {
        public void Started(RunStart start) => started();
        public void Step(int epoch, int step, int stepsPerEpoch, float loss, double imagesPerSecond) { }
        public void Evaluating(int epoch) { }
        public void EpochCompleted(EpochRow row) { }
    }

    private TrainRequest Request(string run, int epochs) => new()
    {
        Model = "attention-b", Epochs = epochs, BatchSize = TrainedRun.BatchSize, LearningRate = 0.003f, Seed = 7, Device = "cpu",
        DataDirectory = _run.DataDirectory, RunsDirectory = _run.RunsDirectory, Run = run,
    };

    /// <summary>The files of a run that trained <paramref name="epochs"/> epochs once, and nothing else: every row once,
    /// in order, config.json and the checkpoint of the same run, summary.json complete, no temporary files.</summary>
    private static void ValidRun(string dir, int epochs)
    {
        var rows = RunFiles.ReadRows<EpochRow>(Path.Combine(dir, RunFiles.EpochsFile));
        Assert.Equal(Enumerable.Range(1, epochs), rows.Select(r => r.Epoch));
        var steps = RunFiles.ReadRows<StepRow>(Path.Combine(dir, RunFiles.StepsFile));
        Assert.Equal(Enumerable.Range(0, epochs * TrainedRun.StepsPerEpoch).Select(i => (i / TrainedRun.StepsPerEpoch + 1, i % TrainedRun.StepsPerEpoch + 1)),
            steps.Select(s => (s.Epoch, s.Step)));
        var config = RunFiles.ReadConfig(Path.Combine(dir, RunFiles.ConfigFile));
        var (info, _) = Checkpoint.Load(Path.Combine(dir, Checkpoint.FileName));
        Assert.Equal(epochs, info.Epoch);
        Assert.Equal(config.ModelOptions, info.Model);
        Assert.Equal(config.Training, info.Settings);
        Assert.Equal(RunSummary.Completed, RunFiles.ReadSummary(Path.Combine(dir, RunFiles.SummaryFile)).Status);
        var folder = RunFolder.Read(dir);
        Assert.Empty(folder.Problems);
        Assert.Equal(RunProgress.Complete, folder.Progress);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [Fact]
    public void ASecondWriterFailsAtOnceNamingTheProcessThatHoldsTheRun()
    {
        const string run = "contested";
        string dir = Path.Combine(_run.RunsDirectory, run);
        var seen = new List<(string What, int Code, string Err)>();
        var outcome = Trainer.Run(Request(run, 2), new OnStart(() =>
        {
            // While this run holds the folder: another process, and this one again, try to train it or resume it.
            var other = Hostile.Finish(Hostile.StartAw(_run.TrainArgs(run, "--epochs", "1")));
            seen.Add(("another process", other.Code, other.Err));
            var fresh = CliTests.Aw(_run.TrainArgs(run, "--epochs", "1"));
            seen.Add(("fresh", fresh.Code, fresh.Err));
            var resume = CliTests.Aw(_run.ResumeArgs(run, 3));
            seen.Add(("resume", resume.Code, resume.Err));
            Assert.Throws<RunInUseException>(() => RunFiles.Clear(dir));
            Assert.Equal(Environment.ProcessId.ToString(CultureInfo.InvariantCulture), File.ReadAllText(Path.Combine(dir, RunLock.OwnerFile)).Trim());
        }));
        Assert.Equal(RunStatus.Completed, outcome.Status);
        Assert.Equal(3, seen.Count);
        foreach (var (what, code, err) in seen)
        {
            Assert.True(code == ExitCodes.Error, $"{what}: exit {code}: {err}");
            string line = Hostile.OneErrorLine(err);
            Assert.Contains($"{dir} is in use", line);
            Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"process {Environment.ProcessId}"), line);
        }
        Assert.Contains("(this process)", seen[1].Err);
        Assert.DoesNotContain("(this process)", seen[0].Err);
        ValidRun(dir, 2);
        // The lock went with the run: the folder can be resumed now, and the process id is gone.
        Assert.False(File.Exists(Path.Combine(dir, RunLock.OwnerFile)));
        Assert.Equal(0, CliTests.Aw(_run.ResumeArgs(run, 3)).Code);
        ValidRun(dir, 3);
    }

    [Fact]
    public void TwoTrainingsStartedTogetherOnOneRunFolderLeaveExactlyOneValidRun()
    {
        const string run = "together";
        string dir = Path.Combine(_run.RunsDirectory, run);
        var args = _run.TrainArgs(run, "--epochs", "2");
        using var a = Hostile.StartAw(args);
        using var b = Hostile.StartAw(args);
        var results = new[] { (Process: a, Result: Hostile.Finish(a)), (Process: b, Result: Hostile.Finish(b)) };
        var winners = results.Where(r => r.Result.Code == 0).ToList();
        Assert.True(winners.Count == 1, string.Join("\n", results.Select(r => $"exit {r.Result.Code}: {r.Result.Err}")));
        var loser = results.Single(r => r.Result.Code != 0).Result;
        string line = Hostile.OneErrorLine(loser.Err);
        // Which message depends only on whether the winner was still running when the loser came to the folder.
        if (loser.Code == ExitCodes.Error)
        {
            Assert.Contains($"{dir} is in use", line);
            Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"process {winners[0].Process.Id}"), line);
        }
        else
        {
            Assert.Equal(ExitCodes.Usage, loser.Code);
            Assert.Contains("already holds a run", line);
        }
        ValidRun(dir, 2);
    }

    [Fact]
    public void TheLockOfAKilledTrainingDisappearsWithIt()
    {
        const string run = "killed";
        string dir = Path.Combine(_run.RunsDirectory, run);
        string checkpoint = Path.Combine(dir, Checkpoint.FileName);
        using var p = Hostile.StartAw(_run.TrainArgs(run, "--epochs", "100000"));
        // Wait (polling, with a generous limit) for its first checkpoint; then kill it without warning.
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while (!File.Exists(checkpoint) && !p.HasExited && DateTime.UtcNow < deadline)
            Thread.Sleep(50);
        Assert.True(File.Exists(checkpoint), "the training made no checkpoint");
        Assert.True(File.Exists(Path.Combine(dir, RunLock.OwnerFile)));
        p.Kill();
        p.WaitForExit();

        int epoch = Checkpoint.ReadInfo(checkpoint).Epoch;
        var (code, output, error) = CliTests.Aw(_run.ResumeArgs(run, epoch + 1));
        Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        Assert.Contains($"resuming after epoch {epoch}", output);
        var rows = RunFiles.ReadRows<EpochRow>(Path.Combine(dir, RunFiles.EpochsFile));
        Assert.Equal(Enumerable.Range(1, epoch + 1), rows.Select(r => r.Epoch));
    }

    /// <summary>`aw train --resume` of a copy of the base run after <paramref name="damage"/>: exit 1, one line with
    /// <paramref name="expected"/>, and every file as it was.</summary>
    private void ResumeRefused(Action<string> damage, string expected, params string[] extra)
    {
        var (name, dir) = _run.Copy("damaged");
        damage(dir);
        var before = Hostile.Snapshot(dir);
        var (code, _, error) = CliTests.Aw([.. _run.ResumeArgs(name, TrainedRun.Epochs + 1), .. extra]);
        Assert.True(code == ExitCodes.Error, $"exit {code}: {error}");
        Assert.Contains(expected, Hostile.OneErrorLine(error));
        Hostile.Unchanged(before, dir);
    }

    private static void EditLines(string path, Func<List<string>, IEnumerable<string>> edit) =>
        File.WriteAllText(path, string.Concat(edit(File.ReadAllLines(path).ToList()).Select(l => l + "\n")));

    [Fact]
    public void ResumeRefusesLogsThatDisagreeWithTheCheckpoint()
    {
        ResumeRefused(d => EditLines(Path.Combine(d, RunFiles.EpochsFile), l => l.Take(2)),
            "holds 1 epoch(s) but");
        // Two runs' rows interleaved: epochs 1, 2, 1, 2.
        ResumeRefused(d => EditLines(Path.Combine(d, RunFiles.EpochsFile), l => l.Concat(l.Skip(1))),
            "line 4 is epoch 1, expected 3");
        ResumeRefused(d => File.Delete(Path.Combine(d, RunFiles.EpochsFile)), "epochs.csv is missing");
        ResumeRefused(d => EditLines(Path.Combine(d, RunFiles.StepsFile), l => l.Where((_, i) => i != 3)),
            "line 4 is epoch 1 step 4, but 120 training images at batch 16 make 8 steps per epoch");
        ResumeRefused(d => EditLines(Path.Combine(d, RunFiles.StepsFile), l => l.Concat(l.Skip(1).Take(1).Select(x => "9" + x[1..]))),
            "line 18 is epoch 9 step 1");
        // A whole epoch 3 that the checkpoint (epoch 2) has not reached is fine (it is trained again); epoch 4 is not.
        ResumeRefused(d => EditLines(Path.Combine(d, RunFiles.StepsFile),
                l => l.Concat(Enumerable.Range(1, TrainedRun.StepsPerEpoch + 1).Select(k => k <= TrainedRun.StepsPerEpoch ? $"3,{k},2.0,0.001" : "4,1,2.0,0.001"))),
            "after the end of epoch 3");
    }

    [Fact]
    public void ResumeRefusesDamagedFilesNamingThem()
    {
        // A field that is not a number.
        ResumeRefused(d => EditLines(Path.Combine(d, RunFiles.EpochsFile), l => l.Select((x, i) => i == 1 ? "1,abc" + x[x.IndexOf(',', 2)..] : x)),
            "epochs.csv: not a valid epochs.csv");
        ResumeRefused(d => File.WriteAllText(Path.Combine(d, RunFiles.ConfigFile), "[1, 2]"), "config.json: not a valid config.json");
        ResumeRefused(d => File.WriteAllText(Path.Combine(d, RunFiles.ConfigFile), "{\"run\": 5"), "config.json: not a valid config.json");
        ResumeRefused(d =>
        {
            string path = Path.Combine(d, RunFiles.ConfigFile);
            var config = RunFiles.ReadConfig(path);
            RunFiles.WriteConfig(d, config with { Training = config.Training with { LearningRate = 0.5f } });
        }, "config.json disagrees with");
    }

    [Fact]
    public void ResumeRefusesDataWithAnotherNumberOfStepsPerEpoch()
    {
        using var other = new TempDir();
        SyntheticData.Write(other.Path, 100, TrainedRun.TestImages, 8);
        ResumeRefused(_ => { }, "100 training images at batch 16 make 7 steps per epoch", "--data", other.Path);
    }

    [Fact]
    public void ATornLastLineIsNotARowAndResumeDropsIt()
    {
        var (name, dir) = _run.Copy("torn");
        File.AppendAllText(Path.Combine(dir, RunFiles.StepsFile), "3,1,0.5");
        File.AppendAllText(Path.Combine(dir, RunFiles.EpochsFile), "3,1.");
        Assert.Equal(2 * TrainedRun.StepsPerEpoch, RunFiles.ReadRows<StepRow>(Path.Combine(dir, RunFiles.StepsFile)).Count);
        var (code, _, error) = CliTests.Aw(_run.ResumeArgs(name, 3));
        Assert.True(code == 0, error);
        ValidRun(dir, 3);
    }

    [Fact]
    public void DamagedFilesOfARunFolderAreReportedNotThrown()
    {
        var (_, dir) = _run.Copy("report");
        File.WriteAllText(Path.Combine(dir, RunFiles.ConfigFile), "\"not an object\"");
        EditLines(Path.Combine(dir, RunFiles.EpochsFile), l => l.Select((x, i) => i == 2 ? "two" + x[1..] : x));
        var folder = RunFolder.Read(dir);
        Assert.False(folder.HasConfig);
        Assert.Empty(folder.Epochs);
        Assert.Contains(folder.Problems, p => p.Contains(RunFiles.ConfigFile, StringComparison.Ordinal));
        Assert.Contains(folder.Problems, p => p.Contains(RunFiles.EpochsFile, StringComparison.Ordinal));
        Assert.Equal(TrainedRun.Epochs, folder.CheckpointEpoch);
    }

    [Theory]
    [InlineData("1,abc", "not a valid epochs.csv")]
    [InlineData("99999999999", "not a valid epochs.csv")]
    [InlineData("1,2", "not a valid epochs.csv")]
    [InlineData("1,2,3,4,5,6,7,x,nine,10,11", "not a valid epochs.csv")]
    [InlineData("\"1", "not a valid epochs.csv")]
    public void AMalformedRowIsAnErrorThatNamesTheFile(string row, string expected)
    {
        var (_, dir) = _run.Copy("rows");
        string path = Path.Combine(dir, RunFiles.EpochsFile);
        File.AppendAllText(path, row + "\n");
        var e = Assert.Throws<RunFolderException>(() => RunFiles.ReadRows<EpochRow>(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("epoch,loss_sum\n")]
    [InlineData("something,else\n1,2\n")]
    public void ALogWithoutItsHeaderIsAnError(string text)
    {
        using var dir = new TempDir();
        string path = dir.File(RunFiles.EpochsFile);
        File.WriteAllText(path, text);
        var e = Assert.Throws<RunFolderException>(() => RunFiles.ReadRows<EpochRow>(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("has no column for", e.Message);
        Assert.Contains("EpochRow.LossMean ('loss_mean')", e.Message);
    }

    [Theory]
    [InlineData("", "--run must not be empty")]
    [InlineData("  ", "--run must not be empty")]
    [InlineData("..", "is a path")]
    [InlineData(".", "is a path")]
    [InlineData("../escape", "is a path")]
    [InlineData("a/b", "is a path")]
    [InlineData("/tmp/x", "is a path")]
    public void ARunNameThatIsNotOneFolderNameIsAUsageError(string name, string expected)
    {
        using var dir = new TempDir();
        SyntheticData.Write(dir.Path, 12, 6, 4);
        string runs = dir.File("runs");
        var (code, _, error) = CliTests.Aw("train", "--data", dir.Path, "--runs-dir", runs, "--run", name, "--device", "cpu", "--epochs", "1");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains(expected, Hostile.OneErrorLine(error));
        Assert.False(Directory.Exists(runs));
        Assert.Equal(4, Directory.GetFiles(dir.Path).Length);
        Assert.Empty(Directory.GetDirectories(dir.Path));

        var emptyRuns = CliTests.Aw("train", "--data", dir.Path, "--runs-dir", "", "--device", "cpu", "--epochs", "1");
        Assert.Equal(ExitCodes.Usage, emptyRuns.Code);
        Assert.Contains("--runs-dir must not be empty", emptyRuns.Err);
    }

    [Fact]
    public void AModelTooLargeForADeviceTensorIsRefusedBeforeAnythingIsAllocated()
    {
        var (code, _, error) = CliTests.Aw(_run.TrainArgs("huge", "--heads", "2000000", "--epochs", "1"));
        Assert.Equal(ExitCodes.Error, code);
        string line = Hostile.OneErrorLine(error);
        Assert.Contains("needs at least", line);
        Assert.Contains("GiB of device memory for 16 images per pass", line);
        Assert.Contains("one attention layer's softmax buffer", line);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"more than the {int.MaxValue:N0} one device tensor can hold"), line);
        Assert.False(Directory.Exists(Path.Combine(_run.RunsDirectory, "huge")));
    }

    [Fact]
    public void TheFootprintIsALowerBoundOfWhatTrainingHoldsAndRefusesWhatDoesNotFit()
    {
        // The parameter counts of the models as built, without building them (DIA-control: at least its control network's).
        using (var cpu = ComputeDevice.Open("cpu"))
        {
            foreach (var entry in ModelRegistry.Entries)
            {
                var (c, h, w) = entry.Name == "attention-cifar" ? (3, 32, 32) : (1, 28, 28);
                var cfg = ModelRegistry.Configure(entry.Name, c, h, w);
                double counted = ModelFootprint.Of(cfg, 1, true).Parameters;
                using var built = ModelRegistry.Create(cpu, cfg);
                if (entry.Family == ModelFamily.DiaControl)
                    Assert.True(counted <= built.Network.ParameterCount, entry.Name);
                else
                    Assert.True(counted == built.Network.ParameterCount, $"{entry.Name}: {counted} against {built.Network.ParameterCount}");
            }
        }
        Assert.Equal(929_510, ModelFootprint.Of(ModelRegistry.Configure("control", 1, 28, 28), 1, true).Parameters);

        // What one training step really holds is at least the bound.
        using var device = ComputeDevice.Open("cpu");
        var config = ModelRegistry.Configure("attention-a", 1, 8, 8);
        var footprint = ModelFootprint.Of(config, 16, training: true);
        device.ResetPeak();
        using (var model = ModelRegistry.Create(device, config))
        {
            using var adam = new AttentionWise.Layers.Adam(device, model.Network.NamedParameters());
            using var loss = new AttentionWise.Layers.LogSoftmaxNllLoss(device);
            var rng = new Random(3);
            using var images = device.Upload(Shape.Of(16, 1, 8, 8), Enumerable.Range(0, 16 * 64).Select(_ => (float)rng.NextDouble()).ToArray());
            using var labels = DeviceIntTensor.Upload(device, Enumerable.Range(0, 16).Select(i => i % 10).ToArray());
            using var order = DeviceIntTensor.Upload(device, Enumerable.Range(0, 16).ToArray());
            using var x = device.Allocate(Shape.Of(16, 1, 8, 8));
            using var y = new DeviceIntTensor(device, Shape.Of(16));
            AttentionWise.Layers.Init.Apply(model.Network, new AttentionWise.Layers.Rng(1));
            TrainingLoop.ForwardBackward(model.Network, loss, images, labels, order, 0, 16, 16, x, y);
            adam.Step();
            Assert.Equal(footprint.Parameters, model.Network.ParameterCount);
        }
        Assert.True(device.PeakAllocatedBytes >= footprint.TotalBytes, $"peak {device.PeakAllocatedBytes:N0} < bound {footprint.TotalBytes:N0}");

        // Against a device with 100 MiB: attention-b at the paper's batch needs more.
        var paper = ModelFootprint.Of(ModelRegistry.Configure("attention-b", 1, 28, 28), 4096, training: true);
        var e = Assert.Throws<ModelTooLargeException>(() => paper.Check(100L << 20, "a small device"));
        Assert.Contains("needs at least 588.5 MiB of device memory for 4,096 images per pass", e.Message);
        Assert.Contains("the device a small device has 100.0 MiB", e.Message);
        paper.Check(1L << 30, "a larger device");
    }
}
