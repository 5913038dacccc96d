using AttentionWise.Layers;
using AttentionWise.Training.Models;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;

namespace AttentionWise.Bench;

/// <summary>
/// One whole training step of the control model (SPEC §1, Fashion-MNIST 1×28×28) at batch 256: forward,
/// log-softmax + NLL loss (and its two-float result), backward, Adam. Reported in images/s.
/// `scripts/bench --filter '*ControlStep*'`.
/// </summary>
[Config(typeof(Config))]
public class ControlStepBenchmarks : IDisposable
{
    private ComputeDevice _device = null!;
    private ControlModel _model = null!;
    private LogSoftmaxNllLoss _loss = null!;
    private Adam _adam = null!;
    private DeviceTensor _x = null!;
    private DeviceIntTensor _labels = null!;

    [Params(256)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _device = ComputeDevice.Open(Environment.GetEnvironmentVariable("AW_DEVICE"));
        _model = new ControlModel(_device, 1, 28, 28);
        Init.Apply(_model, new Rng(1));
        _loss = new LogSoftmaxNllLoss(_device);
        _adam = new Adam(_device, _model.NamedParameters());
        var shape = Shape.Of(Batch, 1, 28, 28);
        var pixels = QuickTiming.Random(shape.Length, 4);
        for (int i = 0; i < pixels.Length; i++)
            pixels[i] = 0.5f + 0.5f * pixels[i];
        _x = _device.Upload(shape, pixels);
        var rng = new Random(5);
        _labels = DeviceIntTensor.Upload(_device, Enumerable.Range(0, Batch).Select(_ => rng.Next(10)).ToArray());
    }

    /// <summary>Zero the gradients, forward, loss (synchronising on its result), backward, Adam step.</summary>
    [Benchmark]
    public float TrainingStep() => Step(_model, _loss, _adam, _x, _labels);

    public static float Step(Module model, LogSoftmaxNllLoss loss, Adam adam, DeviceTensor x, DeviceIntTensor labels)
    {
        adam.ZeroGrad();
        loss.Forward(model.Forward(x), labels);
        float value = loss.Result().Loss;
        model.Backward(loss.Backward());
        adam.Step();
        x.Device.Synchronize();
        return value;
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _x?.Dispose();
        _labels?.Dispose();
        _adam?.Dispose();
        _loss?.Dispose();
        _model?.Dispose();
        _device?.Dispose();
        GC.SuppressFinalize(this);
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddColumn(new RateColumn("images/s", c => (int)c.Parameters["Batch"]));
        }
    }
}
