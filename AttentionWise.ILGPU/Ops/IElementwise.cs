namespace AttentionWise.Ops;

/// <summary>Element-wise ops over whole tensors of one length (checked by <see cref="Elementwise"/>, never empty);
/// outputs may alias inputs.</summary>
internal interface IElementwise
{
    /// <summary>y = ReLU(x), NaN kept.</summary>
    void Relu(DeviceTensor x, DeviceTensor y);

    /// <summary>y = s · x.</summary>
    void Scale(DeviceTensor x, float s, DeviceTensor y);

    /// <summary>t = value everywhere.</summary>
    void Fill(DeviceTensor t, float value);

    /// <summary>y = a + b.</summary>
    void Add(DeviceTensor a, DeviceTensor b, DeviceTensor y);

    /// <summary>y = a ⊙ b.</summary>
    void Multiply(DeviceTensor a, DeviceTensor b, DeviceTensor y);

    /// <summary>y = a + s · b.</summary>
    void AddScaled(DeviceTensor a, float s, DeviceTensor b, DeviceTensor y);

    /// <summary>gradInput = gradOutput where output &gt; 0, else 0.</summary>
    void ReluBackward(DeviceTensor gradOutput, DeviceTensor output, DeviceTensor gradInput);
}
