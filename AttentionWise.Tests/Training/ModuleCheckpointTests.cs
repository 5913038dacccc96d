using AttentionWise.Layers;
using AttentionWise.Tests.Data;
using AttentionWise.Training.Checkpoints;

namespace AttentionWise.Tests.Training;

/// <summary><see cref="Checkpoint.LoadModule"/>: any module's weights back from <see cref="Checkpoint.SaveModule"/>, and
/// errors that name the tensor that does not fit.</summary>
public class ModuleCheckpointTests
{
    private static Sequential Net(ComputeDevice device, int hidden = 8, bool bias = true) =>
        new(device, new Linear(device, 6, hidden), new ReLU(device), new Linear(device, hidden, 3, bias));

    [Fact]
    public void LoadsWeightsAndOptimiserStateIntoAFreshModule()
    {
        using var device = ComputeDevice.Open("cpu");
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "m.safetensors");
        using var a = Net(device);
        Init.Apply(a, new Rng(1));
        using var adamA = new Adam(device, a.NamedParameters()) { StepCount = 5 };
        Checkpoint.SaveModule(path, a, adamA, epoch: 3);

        using var b = Net(device);
        Init.Apply(b, new Rng(2));
        using var adamB = new Adam(device, b.NamedParameters());
        var info = Checkpoint.LoadModule(path, b, adamB);

        Assert.Equal(new ModuleCheckpointInfo(3, 5, true), info);
        Assert.Equal(5, adamB.StepCount);
        foreach (var ((name, pa), (_, pb)) in a.NamedParameters().Zip(b.NamedParameters()))
            Assert.True(pa.Value.Download().SequenceEqual(pb.Value.Download()), name);

        // Without an optimiser the moments in the file are skipped.
        using var c = Net(device);
        Assert.True(Checkpoint.LoadModule(path, c).HasOptimizerState);
    }

    [Fact]
    public void NamesAMissingAnUnexpectedAndAMisshapenTensor()
    {
        using var device = ComputeDevice.Open("cpu");
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "m.safetensors");
        using var saved = Net(device, bias: false);
        Init.Apply(saved, new Rng(1));
        Checkpoint.SaveModule(path, saved, null, epoch: 1);

        using var withBias = Net(device, bias: true);
        var missing = Assert.Throws<CheckpointException>(() => Checkpoint.LoadModule(path, withBias));
        Assert.Contains("missing tensor '2.bias'", missing.Message);

        Checkpoint.SaveModule(path, withBias, null, epoch: 1);
        using var withoutBias = Net(device, bias: false);
        var unexpected = Assert.Throws<CheckpointException>(() => Checkpoint.LoadModule(path, withoutBias));
        Assert.Contains("unexpected tensor '2.bias'", unexpected.Message);

        using var wider = Net(device, hidden: 9);
        var shape = Assert.Throws<CheckpointException>(() => Checkpoint.LoadModule(path, wider));
        Assert.Matches(@"tensor '0\.(weight|bias)' has shape \[8.*\] but the module needs", shape.Message);

        using var adam = new Adam(device, withBias.NamedParameters());
        var noMoments = Assert.Throws<CheckpointException>(() => Checkpoint.LoadModule(path, withBias, adam));
        Assert.Contains("missing tensor 'adam.m.", noMoments.Message);
    }
}
