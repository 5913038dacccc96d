using AttentionWise.Layers;
using AttentionWise.Tests.Data;
using AttentionWise.Training;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Data;

namespace AttentionWise.Tests.Training;

/// <summary>The public training loop with a model of the user's own (not one of the registry's), on the CPU.</summary>
public class TrainingLoopTests
{
    /// <summary>Three classes of 4×4 images: class k is bright in row k, noise elsewhere.</summary>
    private static Dataset Stripes(int count, int seed)
    {
        var rng = new Random(seed);
        var images = new float[count * 16];
        var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            labels[i] = i % 3;
            for (int p = 0; p < 16; p++)
                images[i * 16 + p] = (float)(rng.NextDouble() * 0.3) + (p / 4 == labels[i] ? 1f : 0f);
        }
        return new Dataset("stripes", images, labels, 1, 4, 4, ["a", "b", "c"]);
    }

    private sealed class Recorder : ITrainingObserver
    {
        public List<(int Epoch, int Step, int Steps, float Loss)> Steps { get; } = [];
        public List<int> Evaluations { get; } = [];
        public List<EpochRow> Epochs { get; } = [];

        public void Step(int epoch, int step, int stepsPerEpoch, float loss, double imagesPerSecond) => Steps.Add((epoch, step, stepsPerEpoch, loss));

        public void Evaluating(int epoch) => Evaluations.Add(epoch);

        public void EpochCompleted(EpochRow row) => Epochs.Add(row);
    }

    private static (TrainingResult Result, Recorder Events) Fit(ComputeDevice device, TrainingOptions options, Dataset train, Dataset? test)
    {
        using var model = new Sequential(device, new Linear(device, 16, 8), new ReLU(device), new Linear(device, 8, 3));
        Init.Apply(model, new Rng(7));
        using var loss = new LogSoftmaxNllLoss(device);
        using var adam = new Adam(device, model.NamedParameters(), 0.05f);
        var events = new Recorder();
        var result = new TrainingLoop(model, loss, adam, options).Fit(train, test, events);
        return (result, events);
    }

    [Fact]
    public void TrainsAnyModuleAndReportsEveryStepAndEpoch()
    {
        using var device = ComputeDevice.Open("cpu");
        using var dir = new TempDir();
        string checkpoint = Path.Combine(dir.Path, "model.safetensors");
        var options = new TrainingOptions { Epochs = 6, BatchSize = 16, Seed = 3, CheckpointPath = checkpoint };
        var (result, events) = Fit(device, options, Stripes(60, 1), Stripes(30, 2));

        Assert.Equal(RunStatus.Completed, result.Status);
        Assert.Equal(6, result.Epochs.Count);
        Assert.Equal(result.Epochs, events.Epochs);
        Assert.Equal([1, 2, 3, 4, 5, 6], events.Evaluations);
        // 60 images at batch 16: 4 steps per epoch, the last of 12 images.
        Assert.Equal(24, events.Steps.Count);
        Assert.All(events.Steps, s => Assert.Equal(4, s.Steps));
        Assert.Equal((6, 4), (events.Steps[^1].Epoch, events.Steps[^1].Step));
        Assert.True(result.Epochs[^1].LossSum < result.Epochs[0].LossSum, "the loss falls");
        Assert.True(result.Epochs[^1].TestAccuracy > 90, $"test accuracy {result.Epochs[^1].TestAccuracy}");
        Assert.Equal(device.Name, result.Epochs[0].Device);

        var header = SafeTensors.ReadHeader(checkpoint);
        Assert.Equal(Checkpoint.ModuleFormat, header.Metadata["format"]);
        Assert.Equal("6", header.Metadata["epoch"]);
        Assert.Equal("24", header.Metadata["adam_step"]);
        Assert.Contains(header.Entries, t => t.Name.StartsWith("adam.m.", StringComparison.Ordinal));
    }

    [Fact]
    public void TheSameSeedGivesTheSameBitsAndTheShuffleFollowsIt()
    {
        using var device = ComputeDevice.Open("cpu");
        var train = Stripes(40, 1);
        var a = Fit(device, new TrainingOptions { Epochs = 2, BatchSize = 8, Seed = 5 }, train, null).Result;
        var b = Fit(device, new TrainingOptions { Epochs = 2, BatchSize = 8, Seed = 5 }, train, null).Result;
        var c = Fit(device, new TrainingOptions { Epochs = 2, BatchSize = 8, Seed = 6 }, train, null).Result;
        var d = Fit(device, new TrainingOptions { Epochs = 2, BatchSize = 8, Shuffle = false }, train, null).Result;
        Assert.Equal(a.Epochs.Select(r => r.LossSum), b.Epochs.Select(r => r.LossSum));
        Assert.NotEqual(a.Epochs.Select(r => r.LossSum), c.Epochs.Select(r => r.LossSum));
        Assert.NotEqual(a.Epochs.Select(r => r.LossSum), d.Epochs.Select(r => r.LossSum));
        // Without a test set there is no evaluation.
        Assert.All(a.Epochs, r => Assert.True(double.IsNaN(r.TestAccuracy)));
    }

    [Fact]
    public void PartsOfABatchGiveTheBatchsGradient()
    {
        using var device = ComputeDevice.Open("cpu");
        var train = Stripes(32, 1);
        var whole = Fit(device, new TrainingOptions { Epochs = 1, BatchSize = 16 }, train, null).Result;
        var parts = Fit(device, new TrainingOptions { Epochs = 1, BatchSize = 16, PartSize = 4 }, train, null).Result;
        Assert.Equal(whole.Epochs[0].LossSum, parts.Epochs[0].LossSum, 5);
        Assert.Equal(whole.Epochs[0].TrainAccuracy, parts.Epochs[0].TrainAccuracy);
    }

    [Fact]
    public void AStopEndsTheLoopAtTheNextStep()
    {
        using var device = ComputeDevice.Open("cpu");
        using var stop = new CancellationTokenSource();
        stop.Cancel();
        var (result, events) = Fit(device, new TrainingOptions { Epochs = 3, BatchSize = 8, Stop = stop.Token }, Stripes(40, 1), null);
        Assert.Equal(RunStatus.Stopped, result.Status);
        Assert.Equal((1, 1), result.StoppedAt);
        Assert.Single(events.Steps);
        Assert.Empty(result.Epochs);
    }

    [Fact]
    public void BadOptionsAndDataAreRefused()
    {
        using var device = ComputeDevice.Open("cpu");
        using var model = new Linear(device, 16, 3);
        using var loss = new LogSoftmaxNllLoss(device);
        using var adam = new Adam(device, model.NamedParameters());
        Assert.Throws<ArgumentOutOfRangeException>(() => new TrainingLoop(model, loss, adam, new TrainingOptions { BatchSize = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TrainingLoop(model, loss, adam, new TrainingOptions { PartSize = 0 }));
        var loop = new TrainingLoop(model, loss, adam);
        var wide = new Dataset("wide", new float[2 * 32], [0, 1], 1, 4, 8, ["a", "b"]);
        Assert.Throws<ArgumentException>(() => loop.Fit(Stripes(6, 1), wide));
        Assert.Throws<ArgumentException>(() => loop.Fit(Stripes(6, 1).Take(0)));
    }

    [Fact]
    public void TheLibraryIsALibraryWithoutTheToolsDependencies()
    {
        var library = typeof(TrainingLoop).Assembly;
        Assert.Equal("AttentionWise.Training", library.GetName().Name);
        Assert.Null(library.EntryPoint);
        var references = library.GetReferencedAssemblies().Select(a => a.Name).ToArray();
        foreach (var tool in new[] { "Spectre.Console", "ScottPlot", "System.CommandLine", "Microsoft.ML.OnnxRuntime", "aw" })
            Assert.DoesNotContain(tool, references);
        Assert.NotNull(typeof(AttentionWise.Tool.Program).Assembly.EntryPoint);
        Assert.Equal("aw", typeof(AttentionWise.Tool.Program).Assembly.GetName().Name);
    }
}
