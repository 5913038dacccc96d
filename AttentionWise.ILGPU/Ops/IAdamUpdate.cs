using AttentionWise.Kernels;

namespace AttentionWise.Ops;

/// <summary>One parameter tensor of an Adam step: its value, moments and gradient (all the same length), and the step
/// size lr / (1 − β1^t) of its group.</summary>
internal readonly record struct AdamTensors(DeviceTensor Value, DeviceTensor M, DeviceTensor V, DeviceTensor Gradient, float StepSize);

/// <summary>Adam's update of parameter tensors in place: m, v and p from the gradient (see <see cref="Layers.Adam"/> for
/// the formula); device-wide element-wise passes.</summary>
internal interface IAdamUpdate
{
    /// <summary>Updates every tensor of <paramref name="tensors"/> (in order) with the shared β1, β2, eps and bias
    /// correction of <paramref name="scalars"/> and each tensor's own step size.</summary>
    void Step(IReadOnlyList<AdamTensors> tensors, AdamScalars scalars);

    /// <summary>Sets every element of every tensor of <paramref name="gradients"/> to zero.</summary>
    void ZeroGradients(IReadOnlyList<DeviceTensor> gradients);
}
