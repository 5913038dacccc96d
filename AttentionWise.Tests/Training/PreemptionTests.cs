using System.Globalization;
using AttentionWise.Tests.Data;
using AttentionWise.Tool.Cli;
using AttentionWise.Training;
using AttentionWise.Training.Checkpoints;

namespace AttentionWise.Tests.Training;

/// <summary>A training stopped inside an epoch (as a signal stops it) writes a checkpoint at that step; resuming from it
/// on the cpu device gives the bits of a run that never stopped.</summary>
public class PreemptionTests
{
    private const int TrainImages = 120;
    private const int Batch = 16; // 8 steps per epoch, the last one short

    /// <summary>Cancels the stop token once the loop reports the given step, as a signal arriving during it would.</summary>
    private sealed class StopAt(int epoch, int step, CancellationTokenSource source) : ITrainingObserver
    {
        public void Started(RunStart start)
        {
        }

        public void Step(int e, int s, int stepsPerEpoch, float loss, double imagesPerSecond)
        {
            if (e == epoch && s == step)
                source.Cancel();
        }

        public void Evaluating(int e)
        {
        }

        public void EpochCompleted(EpochRow row)
        {
        }
    }

    private static TrainRequest Request(TempDir dir, string run, string model, int epochs, CancellationToken stop = default) => new()
    {
        Model = model, DataDirectory = dir.Path, RunsDirectory = Path.Combine(dir.Path, "runs"), Run = run, Device = "cpu",
        BatchSize = Batch, LearningRate = 0.003f, Seed = 7, Epochs = epochs, Stop = stop,
    };

    private static List<string> WithoutTiming(string path)
    {
        var lines = File.ReadAllLines(path);
        var header = lines[0].Split(',');
        var drop = EpochRow.TimingColumns.Select(c => Array.IndexOf(header, c)).ToHashSet();
        return lines.Select(l => string.Join(",", l.Split(',').Where((_, i) => !drop.Contains(i)))).ToList();
    }

    [Theory]
    [InlineData("attention-b", 2, 3)] // inside the second epoch
    [InlineData("control", 1, 5)]     // inside the first epoch: no end-of-epoch checkpoint yet
    [InlineData("attention-b", 1, 8)] // in the epoch's last step: the epoch ends, then the run stops
    public void StoppedInsideAnEpochThenResumedEqualsAStraightRun(string model, int stopEpoch, int stopStep)
    {
        using var dir = new TempDir();
        SyntheticData.Write(dir.Path, TrainImages, 60, 8);
        var straight = Trainer.Run(Request(dir, "straight", model, 3, TestContext.Current.CancellationToken));
        Assert.Equal(RunStatus.Completed, straight.Status);

        using var source = new CancellationTokenSource();
        var stopped = Trainer.Run(Request(dir, "stopped", model, 3, source.Token), new StopAt(stopEpoch, stopStep, source));
        Assert.Equal(RunStatus.Stopped, stopped.Status);
        Assert.Equal((stopEpoch, stopStep), stopped.StoppedAt);
        string a = Path.Combine(dir.Path, "runs", "straight"), b = Path.Combine(dir.Path, "runs", "stopped");
        var info = Checkpoint.ReadInfo(Path.Combine(b, Checkpoint.FileName));
        int stepsPerEpoch = (TrainImages + Batch - 1) / Batch;
        if (stopStep < stepsPerEpoch)
        {
            Assert.Equal((stopEpoch - 1, stopStep), (info.Epoch, info.Step));
            Assert.Equal(stopEpoch - 1, File.ReadAllLines(Path.Combine(b, RunFiles.EpochsFile)).Length - 1);
        }
        else
        {
            Assert.Equal((stopEpoch, 0), (info.Epoch, info.Step));
        }
        Assert.Equal((stopEpoch - 1) * stepsPerEpoch + stopStep, File.ReadAllLines(Path.Combine(b, RunFiles.StepsFile)).Length - 1);
        Assert.False(File.Exists(Path.Combine(b, RunFiles.SummaryFile)));

        // Rows written after the checkpoint (a process killed after it wrote them) are dropped again when it resumes.
        var (nextEpoch, nextStep) = stopStep < stepsPerEpoch ? (stopEpoch, stopStep + 1) : (stopEpoch + 1, 1);
        File.AppendAllText(Path.Combine(b, RunFiles.StepsFile), string.Create(CultureInfo.InvariantCulture, $"{nextEpoch},{nextStep},0.5,0.1\n"));

        var (code, output, error) = CliTests.Aw("train", "--resume", "--run", "stopped", "--runs-dir", Path.Combine(dir.Path, "runs"), "--device", "cpu");
        Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        Assert.Contains(stopStep < stepsPerEpoch ? $"resuming after epoch {stopEpoch - 1} and {stopStep} step(s)" : $"resuming after epoch {stopEpoch}", output);

        Assert.Equal(WithoutTiming(Path.Combine(a, RunFiles.EpochsFile)), WithoutTiming(Path.Combine(b, RunFiles.EpochsFile)));
        Assert.Equal(File.ReadAllLines(Path.Combine(a, RunFiles.StepsFile)), File.ReadAllLines(Path.Combine(b, RunFiles.StepsFile)));
        var (infoA, ta) = Checkpoint.Load(Path.Combine(a, Checkpoint.FileName));
        var (infoB, tb) = Checkpoint.Load(Path.Combine(b, Checkpoint.FileName));
        Assert.Equal(infoA, infoB);
        Assert.Null(infoB.Partial);
        Assert.Equal(ta.Keys.Order(), tb.Keys.Order());
        foreach (var (name, t) in ta)
            Assert.True(t.Data.AsSpan().SequenceEqual(tb[name].Data), $"tensor {name} differs after a stop inside an epoch and a resume");
    }

    [Fact]
    public void AStopInTheLastEpochsLastStepCompletesTheRun()
    {
        using var dir = new TempDir();
        SyntheticData.Write(dir.Path, TrainImages, 60, 8);
        using var source = new CancellationTokenSource();
        var outcome = Trainer.Run(Request(dir, "last", "attention-b", 1, source.Token), new StopAt(1, 8, source));
        Assert.Equal(RunStatus.Completed, outcome.Status);
    }

    [Fact]
    public void AMidEpochCheckpointKeepsItsPositionThroughSaveAndLoad()
    {
        using var dir = new TempDir();
        SyntheticData.Write(dir.Path, TrainImages, 60, 8);
        using var source = new CancellationTokenSource();
        Trainer.Run(Request(dir, "r", "control", 2, source.Token), new StopAt(2, 2, source));
        var info = Checkpoint.ReadInfo(Path.Combine(dir.Path, "runs", "r", Checkpoint.FileName));
        Assert.NotNull(info.Partial);
        Assert.Equal(2, info.Partial!.Step);
        Assert.Equal(8 + 2, info.AdamStep);
        Assert.True(info.Partial.LossSum > 0 && info.Partial.Correct >= 0);
        Assert.Equal("epoch 1 + 2 step(s) of epoch 2", info.Position);
    }

    [Fact]
    public void PortableStopSignalsAreThePosixSignalValues()
    {
        Assert.Equal(System.Runtime.InteropServices.PosixSignal.SIGTERM, StopSignals.Number("TERM"));
        Assert.Equal(System.Runtime.InteropServices.PosixSignal.SIGINT, StopSignals.Number("sigint"));
    }

    [Theory]
    [InlineData("SIGUSR1", 10)]
    [InlineData("usr2", 12)]
    [InlineData("7", 7)]
    public void StopSignalNamesAreLinuxNumbers(string name, int number)
    {
        if (!OperatingSystem.IsLinux())
            return;
        Assert.Equal(number, (int)StopSignals.Number(name)!);
    }

    [Fact]
    public void AnUnknownStopSignalIsAUsageError()
    {
        Assert.Null(StopSignals.Number("KILL9"));
        Assert.Null(StopSignals.Number("9"));
        var (code, _, error) = CliTests.Aw("train", "--stop-signal", "NOPE", "--epochs", "0");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--stop-signal NOPE", error);
    }

    [Theory]
    [InlineData("TERM")]
    [InlineData("USR1")]
    public void ARealSignalStopsTheProcessWithExitCode75AndItsRunResumes(string signal)
    {
        if (OperatingSystem.IsWindows())
            return;
        using var dir = new TempDir();
        SyntheticData.Write(dir.Path, 2000, 40, 8);
        string runs = Path.Combine(dir.Path, "runs");
        string[] Train(string run) =>
        [
            "train", "--model", "attention-b", "--data", dir.Path, "--runs-dir", runs, "--run", run, "--device", "cpu", "--batch-size", "8",
            "--lr", "0.003", "--seed", "7", "--epochs", "3",
        ];
        using var p = Hostile.StartAw(Train("signalled"));
        string steps = Path.Combine(runs, "signalled", RunFiles.StepsFile);
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while ((!File.Exists(steps) || File.ReadAllLines(steps).Length < 4) && !p.HasExited && waited.Elapsed < TimeSpan.FromMinutes(2))
            Thread.Sleep(5);
        Assert.False(p.HasExited, "aw ended before it was signalled");
        using (var kill = System.Diagnostics.Process.Start("kill", ["-s", signal, p.Id.ToString(CultureInfo.InvariantCulture)]))
            kill.WaitForExit();
        var (code, output, error) = Hostile.Finish(p);
        Assert.True(code == ExitCodes.Stopped, $"exit {code}: {error}\n{output}");
        Assert.Contains($"SIG{signal} received", error);
        Assert.Contains("stopped by a signal after epoch", output);
        var info = Checkpoint.ReadInfo(Path.Combine(runs, "signalled", Checkpoint.FileName));
        Assert.Equal(info.Epoch * 250 + info.Step, File.ReadAllLines(steps).Length - 1);

        Assert.Equal(0, CliTests.Aw(Train("straight")).Code);
        var resumed = CliTests.Aw("train", "--resume", "--run", "signalled", "--runs-dir", runs, "--device", "cpu");
        Assert.True(resumed.Code == 0, resumed.Err);
        Assert.Equal(File.ReadAllLines(Path.Combine(runs, "straight", RunFiles.StepsFile)), File.ReadAllLines(steps));
        var (_, ta) = Checkpoint.Load(Path.Combine(runs, "straight", Checkpoint.FileName));
        var (_, tb) = Checkpoint.Load(Path.Combine(runs, "signalled", Checkpoint.FileName));
        foreach (var (name, t) in ta)
            Assert.True(t.Data.AsSpan().SequenceEqual(tb[name].Data), $"tensor {name} differs after a real {signal} and a resume");
    }
}
