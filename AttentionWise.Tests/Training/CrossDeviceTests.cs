using System.Globalization;
using AttentionWise.Tests.Data;
using AttentionWise.Tests.Infrastructure;
using AttentionWise.Training;
using AttentionWise.Training.Checkpoints;

namespace AttentionWise.Tests.Training;

/// <summary>
/// The same short training run (attention-b, a small synthetic set, same seed) on this suite's device and on the
/// CPU: the per-step losses, the epochs' loss sums and test losses, and every weight and buffer of the final
/// checkpoint must agree to float tolerance. Bit-identical results are not expected: the devices sum in other
/// orders (and OpenCL may contract a·b + c into one rounding), and the differences grow a little with each step.
/// </summary>
public abstract class CrossDeviceAgreementSuite : DeviceTest
{
    private const int ImageSize = 10;
    private const int TrainImages = 128;
    private const int TestImages = 32;
    private const int BatchSize = 32;
    private const int Epochs = 2;

    /// <summary>Tolerances: on PoCL the per-step losses of this run came out bit-equal to the CPU's and the
    /// weights within 6e-7 absolute, so these leave more than ten times room.</summary>
    private const double LossRtol = 1e-5;
    private const double WeightAtol = 1e-5, WeightRtol = 1e-4;

    private static TrainingOutcome Train(TempDir dir, string device, string run) => Trainer.Run(new TrainRequest
    {
        Model = "attention-b",
        Dataset = "fashion-mnist",
        DataDirectory = dir.Path,
        RunsDirectory = dir.File("runs"),
        Run = run,
        Device = device,
        Epochs = Epochs,
        BatchSize = BatchSize,
        LearningRate = 3e-3f,
        Seed = 11,
    });

    private static void AssertRelative(double actual, double expected, string what) =>
        Assert.True(Math.Abs(actual - expected) <= LossRtol * Math.Abs(expected),
            string.Create(CultureInfo.InvariantCulture, $"{what}: {actual:R} here, {expected:R} on the CPU (relative difference {Math.Abs(actual - expected) / Math.Abs(expected):G3}, allowed {LossRtol:G3})."));

    [Fact]
    public void AttentionBTrainsTheSameHereAsOnTheCpu()
    {
        string deviceName = Device.Info.KindName; // skips where the machine has no such device
        using var dir = new TempDir();
        SyntheticData.Write(dir.Path, TrainImages, TestImages, ImageSize, seed: 5);

        var here = Train(dir, deviceName, "here");
        var cpu = Train(dir, "cpu", "cpu");
        Assert.Equal(RunStatus.Completed, here.Status);
        Assert.Equal(RunStatus.Completed, cpu.Status);
        Assert.NotEqual(cpu.DeviceName, here.DeviceName);

        var stepsHere = CsvLog<StepRow>.ReadAll(Path.Combine(here.RunDirectory, RunFiles.StepsFile));
        var stepsCpu = CsvLog<StepRow>.ReadAll(Path.Combine(cpu.RunDirectory, RunFiles.StepsFile));
        Assert.Equal(Epochs * TrainImages / BatchSize, stepsCpu.Count);
        Assert.Equal(stepsCpu.Count, stepsHere.Count);
        for (int i = 0; i < stepsCpu.Count; i++)
            AssertRelative(stepsHere[i].Loss, stepsCpu[i].Loss, $"loss of epoch {stepsCpu[i].Epoch}, step {stepsCpu[i].Step}");
        // The model learns in these steps, so agreeing is not agreeing on a flat start.
        Assert.True(stepsCpu[^1].Loss < stepsCpu[0].Loss, $"the loss went from {stepsCpu[0].Loss} to {stepsCpu[^1].Loss}");

        for (int e = 0; e < Epochs; e++)
        {
            AssertRelative(here.Epochs[e].LossSum, cpu.Epochs[e].LossSum, $"loss_sum of epoch {e + 1}");
            AssertRelative(here.Epochs[e].TestLoss, cpu.Epochs[e].TestLoss, $"test_loss of epoch {e + 1}");
        }

        var (_, weightsHere) = Checkpoint.Load(Path.Combine(here.RunDirectory, Checkpoint.FileName));
        var (_, weightsCpu) = Checkpoint.Load(Path.Combine(cpu.RunDirectory, Checkpoint.FileName));
        Assert.Equal(weightsCpu.Keys.Order(StringComparer.Ordinal), weightsHere.Keys.Order(StringComparer.Ordinal));
        int compared = 0;
        foreach (var (name, t) in weightsCpu)
        {
            if (name.StartsWith("adam.", StringComparison.Ordinal))
                continue; // the moments follow from the gradients, which the weights already reflect
            Numerics.AssertClose(weightsHere[name].Data, t.Data, WeightAtol, WeightRtol, $"{name} after {stepsCpu.Count} steps");
            compared += t.Data.Length;
        }
        Assert.True(compared >= here.ParameterCount, $"only {compared} of {here.ParameterCount} weights compared");
    }
}

public sealed class CrossDeviceAgreementCpuSimTests : CrossDeviceAgreementSuite
{
    protected override DeviceKind Kind => DeviceKind.CpuSimulator;
}

public sealed class CrossDeviceAgreementCudaTests : CrossDeviceAgreementSuite
{
    protected override DeviceKind Kind => DeviceKind.Cuda;
}

public sealed class CrossDeviceAgreementOpenCLTests : CrossDeviceAgreementSuite
{
    protected override DeviceKind Kind => DeviceKind.OpenCL;
}
