using AttentionWise.Layers;
using AttentionWise.Training.Models;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;

namespace AttentionWise.Bench;

/// <summary>
/// One whole training step of the attention model, configuration B by default (8 heads, 2 layers, no post-conv BN,
/// Fashion-MNIST 1×28×28, batch 4096): forward, loss (and its two-float result), backward, Adam. Inputs are the
/// first Fashion-MNIST training images where the Debian package installed them, else uniform pixels.
/// `scripts/bench --filter '*AttentionStep*'`.
/// </summary>
[Config(typeof(StepConfig))]
public class AttentionStepBenchmarks : IDisposable
{
    private ComputeDevice _device = null!;
    private AttentionModel _model = null!;
    private LogSoftmaxNllLoss _loss = null!;
    private Adam _adam = null!;
    private DeviceTensor _x = null!;
    private DeviceIntTensor _labels = null!;

    [Params(4096)]
    public int Batch { get; set; }

    [Params("B")]
    public string Configuration { get; set; } = "B";

    [GlobalSetup]
    public void Setup()
    {
        _device = ComputeDevice.Open(Environment.GetEnvironmentVariable("AW_DEVICE"));
        _model = new AttentionModel(_device, AttentionConfigurations.Options(Configuration));
        Init.Apply(_model, new Rng(1));
        _loss = new LogSoftmaxNllLoss(_device);
        _adam = new Adam(_device, _model.NamedParameters());
        var (images, labels, _) = BenchData.FashionMnist(Batch);
        _x = _device.Upload(Shape.Of(Batch, 1, 28, 28), images);
        _labels = DeviceIntTensor.Upload(_device, labels);
    }

    [Benchmark]
    public float TrainingStep()
    {
        _adam.ZeroGrad();
        _loss.Forward(_model.Forward(_x), _labels);
        float value = _loss.Result().Loss;
        _model.Backward(_loss.Backward());
        _adam.Step();
        _device.Synchronize();
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

    private sealed class StepConfig : ManualConfig
    {
        public StepConfig()
        {
            AddColumn(new RateColumn("images/s", c => (int)c.Parameters["Batch"]));
        }
    }
}

/// <summary>The paper's attention configurations as model options (SPEC §2).</summary>
public static class AttentionConfigurations
{
    /// <summary>The paper's configurations A–H on 1×28×28.</summary>
    public static AttentionModelOptions Options(string configuration) => configuration.ToUpperInvariant() switch
    {
        "A" => new(1, 28, 28, 8, 2, true),
        "B" => new(1, 28, 28, 8, 2, false),
        "C" => new(1, 28, 28, 16, 2, true),
        "D" => new(1, 28, 28, 16, 2, false),
        "E" => new(1, 28, 28, 8, 4, true),
        "F" => new(1, 28, 28, 8, 4, false),
        "G" => new(1, 28, 28, 16, 4, true),
        "H" => new(1, 28, 28, 16, 4, false),
        _ => throw new ArgumentException($"Unknown configuration '{configuration}'."),
    };
}

/// <summary>A module that passes its input through (a copy): lets a DIA stage be timed without its convolutions.</summary>
internal sealed class PassThrough(ComputeDevice device) : Module(device)
{
    private DeviceTensor? _y, _g;

    public override Shape OutputShape(Shape input) => input;

    public override DeviceTensor Forward(DeviceTensor input)
    {
        var y = Scratch(ref _y, input.Shape);
        y.CopyFrom(input);
        return y;
    }

    public override DeviceTensor? Backward(DeviceTensor gradOutput)
    {
        var g = Scratch(ref _g, gradOutput.Shape);
        g.CopyFrom(gradOutput);
        return g;
    }
}

/// <summary>
/// One DIA unit at C = 200 on 14×14 maps, batch 256 (DIA-control's stage 2 without its convolutions): a stage of
/// <see cref="Uses"/> pass-through modules, each use = pooling, LSTM step, scale + ReLU; backward through the chain.
/// `scripts/bench --filter '*Dia*'`.
/// </summary>
[Config(typeof(DiaConfig))]
public class DiaBenchmarks : IDisposable
{
    private ComputeDevice _device = null!;
    private DiaStage _stage = null!;
    private DeviceTensor _x = null!;
    private DeviceTensor _g = null!;

    [Params(256)]
    public int Batch { get; set; }

    [Params(1, 3)]
    public int Uses { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _device = ComputeDevice.Open(Environment.GetEnvironmentVariable("AW_DEVICE"));
        var modules = Enumerable.Range(0, Uses).Select(i => ($"m{i}", (Module)new PassThrough(_device))).ToList();
        _stage = new DiaStage(_device, 200, modules);
        Init.Apply(_stage, new Rng(3));
        var shape = Shape.Of(Batch, 200, 14, 14);
        _x = _device.Upload(shape, QuickTiming.Random(shape.Length, 4));
        _g = _device.Upload(shape, QuickTiming.Random(shape.Length, 5));
        _stage.Forward(_x);
        _stage.Backward(_g);
    }

    [Benchmark]
    public void Forward()
    {
        _stage.Forward(_x);
        _device.Synchronize();
    }

    [Benchmark]
    public void Backward()
    {
        _stage.Backward(_g);
        _device.Synchronize();
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _x?.Dispose();
        _g?.Dispose();
        _stage?.Dispose();
        _device?.Dispose();
        GC.SuppressFinalize(this);
    }

    private sealed class DiaConfig : ManualConfig
    {
        public DiaConfig()
        {
            AddColumn(new RateColumn("images/s", c => (int)c.Parameters["Batch"]));
        }
    }
}
