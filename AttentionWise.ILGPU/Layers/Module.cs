namespace AttentionWise.Layers;

/// <summary>How a parameter is initialised by <see cref="Init.Apply"/> (SPEC §4: weights N(0, std²), biases 0,
/// batchnorm weight 1 and bias 0).</summary>
public enum ParameterInit
{
    /// <summary>Normal with mean 0 and the model's init std (0.02 in the paper).</summary>
    Normal,

    /// <summary>All zeros (biases, batchnorm bias).</summary>
    Zeros,

    /// <summary>All ones (batchnorm weight).</summary>
    Ones,
}

/// <summary>A learnable tensor and its gradient. Gradients accumulate until <see cref="ZeroGrad"/>.</summary>
public sealed class Parameter : IDisposable
{
    public Parameter(ComputeDevice device, string name, Shape shape, ParameterInit init = ParameterInit.Normal, string group = DefaultGroup)
    {
        Name = name;
        Init = init;
        Group = group;
        Value = device.Allocate(shape);
        Gradient = device.Zeros(shape);
    }

    /// <summary>The optimiser group of ordinary parameters.</summary>
    public const string DefaultGroup = "default";

    /// <summary>The optimiser group of the element-wise attention weights (Wx, Wy and their biases),
    /// which the paper's "segregated optimisation" trains with a learning rate of its own.</summary>
    public const string AttentionGroup = "attention";

    /// <summary>The name within its module, e.g. "weight".</summary>
    public string Name { get; }

    /// <summary>Which optimiser group the parameter belongs to.</summary>
    public string Group { get; }

    /// <summary>How <see cref="AttentionWise.Layers.Init.Apply"/> initialises it.</summary>
    public ParameterInit Init { get; }

    public DeviceTensor Value { get; }
    public DeviceTensor Gradient { get; }
    public Shape Shape => Value.Shape;
    public int Length => Value.Length;

    public void ZeroGrad() => Gradient.Zero();

    public void Dispose()
    {
        Value.Dispose();
        Gradient.Dispose();
    }

    public override string ToString() => $"{Name}{Shape}";
}

/// <summary>
/// A layer or a composition of layers, after PyTorch's nn.Module. <see cref="Forward"/> returns a tensor
/// the module owns (valid until its next Forward); <see cref="Backward"/> takes the gradient of that
/// output, ADDS the parameter gradients into <see cref="Parameter.Gradient"/> and returns the gradient of
/// the input (module-owned), or null when <see cref="ComputeInputGradient"/> is off. Backward uses what
/// the latest Forward kept, so the two alternate.
/// </summary>
public abstract class Module : IDisposable
{
    private readonly List<Parameter> _parameters = new();
    private readonly List<(string Name, DeviceTensor Tensor)> _buffers = new();
    private readonly List<(string Name, Module Module)> _children = new();
    private readonly ScratchTensors _scratch;

    protected Module(ComputeDevice device)
    {
        Device = device ?? throw new ArgumentNullException(nameof(device));
        _scratch = new ScratchTensors(device);
    }

    public ComputeDevice Device { get; }

    /// <summary>Training mode (batch statistics, kept activations) or evaluation mode.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>When false, Backward skips the input gradient and returns null (first layer of a model).</summary>
    public bool ComputeInputGradient { get; set; } = true;

    public bool IsDisposed { get; private set; }

    public abstract DeviceTensor Forward(DeviceTensor input);

    public abstract DeviceTensor? Backward(DeviceTensor gradOutput);

    /// <summary>The output shape for an input shape; throws <see cref="ShapeMismatchException"/> when the input does not fit.</summary>
    public abstract Shape OutputShape(Shape input);

    /// <summary>Switches this module and every child to training (true) or evaluation (false) mode.</summary>
    public void Train(bool training = true)
    {
        Training = training;
        foreach (var (_, child) in _children)
            child.Train(training);
    }

    public void Eval() => Train(false);

    /// <summary>Every parameter with its dotted path, e.g. ("layers.0.conv.weight", p), in a stable order.</summary>
    public IEnumerable<(string Name, Parameter Parameter)> NamedParameters(string prefix = "")
    {
        foreach (var p in _parameters)
            yield return (prefix + p.Name, p);
        foreach (var (name, child) in _children)
        {
            foreach (var item in child.NamedParameters(prefix + name + "."))
                yield return item;
        }
    }

    public IEnumerable<Parameter> Parameters() => NamedParameters().Select(p => p.Parameter);

    /// <summary>Every non-learnable state tensor (e.g. batchnorm running statistics) with its dotted path.</summary>
    public IEnumerable<(string Name, DeviceTensor Tensor)> NamedBuffers(string prefix = "")
    {
        foreach (var (name, tensor) in _buffers)
            yield return (prefix + name, tensor);
        foreach (var (name, child) in _children)
        {
            foreach (var item in child.NamedBuffers(prefix + name + "."))
                yield return item;
        }
    }

    public IReadOnlyList<(string Name, Module Module)> Children => _children;

    /// <summary>The number of learnable scalars.</summary>
    public long ParameterCount => Parameters().Sum(p => (long)p.Length);

    public void ZeroGrad()
    {
        foreach (var p in Parameters())
            p.ZeroGrad();
    }

    protected Parameter AddParameter(string name, Shape shape, ParameterInit init, string group = Parameter.DefaultGroup)
    {
        var p = new Parameter(Device, name, shape, init, group);
        _parameters.Add(p);
        return p;
    }

    protected DeviceTensor AddBuffer(string name, Shape shape)
    {
        var t = Device.Zeros(shape);
        _buffers.Add((name, t));
        return t;
    }

    protected T AddModule<T>(string name, T module) where T : Module
    {
        _children.Add((name, module));
        return module;
    }

    /// <summary>A module-owned tensor of the given shape, reusing <paramref name="slot"/>'s memory when it fits.
    /// Contents are undefined.</summary>
    protected DeviceTensor Scratch(ref DeviceTensor? slot, Shape shape) => _scratch.Get(ref slot, shape);

    public void Dispose()
    {
        if (IsDisposed)
            return;
        IsDisposed = true;
        Dispose(true);
        foreach (var p in _parameters)
            p.Dispose();
        foreach (var (_, t) in _buffers)
            t.Dispose();
        _scratch.Dispose();
        foreach (var (_, child) in _children)
            child.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases resources a subclass holds beyond parameters, buffers, scratch tensors and children.</summary>
    protected virtual void Dispose(bool disposing) { }
}
