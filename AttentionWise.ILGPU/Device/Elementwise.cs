namespace AttentionWise;

/// <summary>Element-wise operations on device tensors, run by the device's element-wise op (kernels; vectorised host
/// passes for the ReLU, its backward and the addition on the cpu device). Outputs may alias inputs.</summary>
public static class Elementwise
{
    /// <summary>y = max(x, 0) (NaN kept).</summary>
    public static void Relu(DeviceTensor x, DeviceTensor y)
    {
        if (Unary(x, y, "Relu"))
            x.Device.Backend.Elementwise.Relu(x, y);
    }

    /// <summary>y = s · x.</summary>
    public static void Scale(DeviceTensor x, float s, DeviceTensor y)
    {
        if (Unary(x, y, "Scale"))
            x.Device.Backend.Elementwise.Scale(x, s, y);
    }

    /// <summary>t = value everywhere.</summary>
    public static void Fill(DeviceTensor t, float value)
    {
        if (Unary(t, t, "Fill"))
            t.Device.Backend.Elementwise.Fill(t, value);
    }

    /// <summary>y = a + b.</summary>
    public static void Add(DeviceTensor a, DeviceTensor b, DeviceTensor y)
    {
        if (Binary(a, b, y, "Add"))
            a.Device.Backend.Elementwise.Add(a, b, y);
    }

    /// <summary>y = a ⊙ b.</summary>
    public static void Multiply(DeviceTensor a, DeviceTensor b, DeviceTensor y)
    {
        if (Binary(a, b, y, "Multiply"))
            a.Device.Backend.Elementwise.Multiply(a, b, y);
    }

    /// <summary>y = a + s · b (with y = a: accumulate).</summary>
    public static void AddScaled(DeviceTensor a, float s, DeviceTensor b, DeviceTensor y)
    {
        if (Binary(a, b, y, "AddScaled"))
            a.Device.Backend.Elementwise.AddScaled(a, s, b, y);
    }

    /// <summary>gradInput = gradOutput where output &gt; 0, else 0 (ReLU backward from the ReLU's output).</summary>
    public static void ReluBackward(DeviceTensor gradOutput, DeviceTensor output, DeviceTensor gradInput)
    {
        if (Binary(gradOutput, output, gradInput, "ReluBackward"))
            gradOutput.Device.Backend.Elementwise.ReluBackward(gradOutput, output, gradInput);
    }

    /// <summary>Checks the shapes; false when there is nothing to do.</summary>
    private static bool Unary(DeviceTensor x, DeviceTensor y, string what)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        Shape.Require(x.Shape, y.Shape, $"{what} output");
        return x.Length > 0;
    }

    private static bool Binary(DeviceTensor a, DeviceTensor b, DeviceTensor y, string what)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(y);
        Shape.Require(a.Shape, b.Shape, $"{what} second operand");
        Shape.Require(a.Shape, y.Shape, $"{what} output");
        return a.Length > 0;
    }
}
