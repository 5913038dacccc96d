using AttentionWise.Layers;

namespace AttentionWise.Training.Models;

/// <summary>
/// A model built from its <see cref="ModelSpec"/>: one child per top-level layer, under the layer's name and in its
/// order, run forward in order and backward in reverse. Forward gives logits; the loss (LogSoftmax + NLL) is applied by
/// the caller. The model's input (the images) never needs a gradient unless <see cref="Module.ComputeInputGradient"/>
/// is set.
/// </summary>
public abstract class LayerStackModel : Module
{
    private readonly List<Module> _stack = new();

    protected LayerStackModel(ComputeDevice device, ModelSpec spec) : base(device)
    {
        ArgumentNullException.ThrowIfNull(spec);
        Spec = spec;
        foreach (var (layer, input, _) in spec.Steps())
            _stack.Add(AddModule(layer.Name, layer.Build(device, input)));
        ComputeInputGradient = false;
    }

    /// <summary>The description the model was built from.</summary>
    public ModelSpec Spec { get; }

    /// <summary>The built top-level layer at <paramref name="index"/> (as in <see cref="ModelSpec.Layers"/>).</summary>
    protected T Layer<T>(int index) where T : Module => (T)_stack[index];

    public override Shape OutputShape(Shape input) => _stack.Aggregate(input, (s, m) => m.OutputShape(s));

    public override DeviceTensor Forward(DeviceTensor input) => _stack.Aggregate(input, (x, m) => m.Forward(x));

    public override DeviceTensor? Backward(DeviceTensor gradOutput)
    {
        DeviceTensor? g = gradOutput;
        for (int i = _stack.Count - 1; i >= 0; i--)
        {
            // Only the first layer's input gradient depends on whether the model's is needed.
            if (i == 0)
                _stack[0].ComputeInputGradient = ComputeInputGradient;
            g = _stack[i].Backward(g!);
            if (g is null && i > 0)
                throw new InvalidOperationException($"Layer '{Spec.Layers[i].Name}' returned no input gradient.");
        }
        return g;
    }
}
