namespace AttentionWise.Layers;

/// <summary>ReLU: y = max(x, 0). Keeps its output for the backward pass.</summary>
public sealed class ReLU : Module
{
    private DeviceTensor? _output;
    private DeviceTensor? _gradInput;

    public ReLU(ComputeDevice device) : base(device) { }

    public override Shape OutputShape(Shape input) => input;

    public override DeviceTensor Forward(DeviceTensor input)
    {
        var y = Scratch(ref _output, input.Shape);
        Elementwise.Relu(input, y);
        return y;
    }

    public override DeviceTensor? Backward(DeviceTensor gradOutput)
    {
        if (_output is null)
            throw new InvalidOperationException("ReLU.Backward called before Forward.");
        Shape.Require(_output.Shape, gradOutput.Shape, "ReLU.Backward gradient");
        if (!ComputeInputGradient)
            return null;
        var g = Scratch(ref _gradInput, gradOutput.Shape);
        Elementwise.ReluBackward(gradOutput, _output, g);
        return g;
    }
}
