namespace AttentionWise.Ops;

/// <summary>Row gather: copies the rows a list of row numbers names (see <see cref="Gather"/>, which checks the shapes).</summary>
internal interface IGather
{
    /// <summary>destination[r, …] = source[indices[start + r], …] for every row r of the destination (float rows).</summary>
    void Rows(DeviceTensor source, DeviceIntTensor indices, int start, DeviceTensor destination);

    /// <summary>The same over integer rows (labels).</summary>
    void Rows(DeviceIntTensor source, DeviceIntTensor indices, int start, DeviceIntTensor destination);
}
