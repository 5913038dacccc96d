namespace AttentionWise.Layers;

/// <summary>Runs its modules forward in order and backward in reverse. Children are named by their
/// position ("0", "1", …) unless given names, so parameters read "0.weight" or "conv1.weight".</summary>
public sealed class Sequential : Module
{
    private readonly List<Module> _modules = new();

    public Sequential(ComputeDevice device) : base(device) { }

    public Sequential(ComputeDevice device, params Module[] modules) : base(device)
    {
        foreach (var m in modules)
            Add(m);
    }

    public IReadOnlyList<Module> Modules => _modules;

    public Sequential Add(Module module, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        AddModule(name ?? _modules.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), module);
        _modules.Add(module);
        return this;
    }

    public override DeviceTensor Forward(DeviceTensor input)
    {
        var x = input;
        foreach (var m in _modules)
            x = m.Forward(x);
        return x;
    }

    public override DeviceTensor? Backward(DeviceTensor gradOutput)
    {
        DeviceTensor? g = gradOutput;
        for (int i = _modules.Count - 1; i >= 0; i--)
        {
            // The first module's input gradient is needed only when this container's is.
            if (i == 0)
                _modules[0].ComputeInputGradient = ComputeInputGradient;
            g = _modules[i].Backward(g!);
            if (g is null && i > 0)
                throw new InvalidOperationException($"Module {i} ({_modules[i].GetType().Name}) returned no input gradient inside a Sequential.");
        }
        return g;
    }

    public override Shape OutputShape(Shape input)
    {
        var s = input;
        foreach (var m in _modules)
            s = m.OutputShape(s);
        return s;
    }
}
